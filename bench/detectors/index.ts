/**
 * Concept detectors of the glyph world: the yardstick of every composition-quality number.
 * See docs/detectors.md.
 */
export type { RgbImage } from './image';
export type { Detection } from './evidence';
export type { ConceptName, Category, BaseScene, ShapeColour, ShapeKind, Position, BaseBackground } from './world';
export { CONCEPT_NAMES, CONCEPT_CATEGORY } from './world';
export { detectors, compositionScore, type Detector } from './concepts';
export { detectShapes, detectBackground, captionRespected, checkCaption, type DetectedShape, type CaptionCheck } from './base';
