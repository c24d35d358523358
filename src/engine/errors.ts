/**
 * The one error type of Chord. Every failure a user can cause (bad file, wrong model, impossible
 * setting) becomes a ChordError whose `message` is one line a person can act on: what is wrong
 * and what to do. Hosts (CLI, app, server) print `message` (+ `hint`) and never a stack trace.
 */
export type ChordErrorCode =
  | 'BAD_ARGUMENT'
  | 'FILE_NOT_FOUND'
  | 'MODEL_INVALID'
  | 'SAFETENSORS_INVALID'
  | 'LORA_INVALID'
  | 'LORA_WRONG_BASE'
  | 'LORA_NO_MATCH'
  | 'TOKENIZER_INVALID'
  | 'SCHEDULER_INVALID'
  | 'ONNX_GRAPH'
  | 'PNG_INVALID'
  | 'WRITE_FAILED'
  | 'RUNTIME'
  | 'ENGINE_UNAVAILABLE'
  | 'CANCELLED';

export class ChordError extends Error {
  readonly code: ChordErrorCode;
  readonly hint?: string;

  constructor(code: ChordErrorCode, message: string, hint?: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ChordError';
    this.code = code;
    this.hint = hint;
  }

  /** One line for a terminal or a toast: the message, then what to do. */
  userText(): string {
    return this.hint ? `${this.message} ${this.hint}` : this.message;
  }
}

export function isChordError(e: unknown): e is ChordError {
  return e instanceof ChordError;
}
