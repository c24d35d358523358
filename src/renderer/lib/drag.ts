/**
 * Drag-and-drop payloads inside the window (native HTML5 drag and drop: cards into the stack,
 * stack items to reorder). Every drag has a keyboard alternative (Add, Move up/down, Remove
 * buttons), so nothing depends on a pointer.
 */
export const LORA_DRAG = 'application/x-chord-lora';
export const STACK_DRAG = 'application/x-chord-stack';

export function hasType(event: DragEvent, type: string): boolean {
  return event.dataTransfer?.types.includes(type) ?? false;
}

/** A drag of files from outside the window (LoRAs, a PNG to restore). */
export function isFileDrag(event: DragEvent): boolean {
  return hasType(event, 'Files');
}
