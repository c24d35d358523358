/**
 * The glyph world's vocabulary, mirrored from models/recipe/world.py: the eleven concepts and
 * their categories and trigger words, and the base world's shapes, colours, positions and backgrounds.
 */

export const CONCEPT_CATEGORY = {
  zorb: 'character',
  quill: 'character',
  mippet: 'character',
  hat: 'clothing',
  scarf: 'clothing',
  hatching: 'style',
  dots: 'style',
  sunset: 'background',
  meadow: 'background',
  ball: 'object',
  cube: 'object',
} as const;

export type ConceptName = keyof typeof CONCEPT_CATEGORY;
export type Category = (typeof CONCEPT_CATEGORY)[ConceptName];
export const CONCEPT_NAMES = Object.keys(CONCEPT_CATEGORY) as ConceptName[];
/** The trigger word each concept's LoRA was trained on (world.py's CONCEPTS). */
export const CONCEPT_TRIGGER: Record<ConceptName, string> = {
  zorb: 'zorb', quill: 'quill', mippet: 'mippet', hat: 'hatz', scarf: 'scarfu', hatching: 'hatchy',
  dots: 'dotty', sunset: 'sunsa', meadow: 'meadu', ball: 'ballo', cube: 'cubo',
};
export const CHARACTERS = ['zorb', 'quill', 'mippet'] as const satisfies readonly ConceptName[];
export type CharacterName = (typeof CHARACTERS)[number];

export type ShapeColour = 'red' | 'green' | 'blue' | 'yellow';
export type ShapeKind = 'circle' | 'square' | 'triangle';
export type Position = 'left' | 'centre' | 'right';
export type BaseBackground = 'gray' | 'white' | 'black';

export const SHAPE_COLOURS: readonly ShapeColour[] = ['red', 'green', 'blue', 'yellow'];
export const BASE_BACKGROUNDS: readonly BaseBackground[] = ['gray', 'white', 'black'];

/** Ground truth of a scene's base layer, as in the calibration labels. */
export interface BaseScene {
  shapes: { shape: ShapeKind; colour: ShapeColour; pos: Position }[];
  background: BaseBackground | 'sunset' | 'meadow';
}
