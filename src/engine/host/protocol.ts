/**
 * Messages between a host (CLI, server, app main process) and the engine running in a worker.
 * Everything crossing the boundary is structured-cloneable data; errors travel as their code,
 * message and hint and are rebuilt as ChordErrors on the host side.
 */
import { ChordError, type ChordErrorCode, isChordError } from '../errors';
import type { EngineNotice } from '../model/session';
import type { GenerateProgress, GenerateRequest, GenerateResult } from './engine';
import type { ProfileProgress, ProfileRequest, ProfileResult } from './profiling';

export type HostMessage =
  | { type: 'generate'; id: number; request: GenerateRequest }
  | { type: 'cancel'; id: number }
  | { type: 'close' }
  | { type: 'profile'; id: number; request: ProfileRequest };

export type EngineMessage =
  | { type: 'ready' }
  | { type: 'progress'; id: number; progress: GenerateProgress }
  | { type: 'result'; id: number; result: GenerateResult }
  | { type: 'error'; id: number; error: SerializedError }
  | { type: 'notice'; notice: EngineNotice }
  | { type: 'closed' }
  | { type: 'profile-progress'; id: number; progress: ProfileProgress }
  | { type: 'profile-result'; id: number; result: ProfileResult };

export interface SerializedError {
  /** a ChordError's code, or undefined for an unexpected error */
  code?: ChordErrorCode;
  message: string;
  hint?: string;
  /** unexpected errors only, for CHORD_DEBUG */
  stack?: string;
}

export function serializeError(e: unknown): SerializedError {
  if (isChordError(e)) return { code: e.code, message: e.message, hint: e.hint };
  if (e instanceof Error) return { message: e.message, stack: e.stack };
  return { message: String(e) };
}

/** A ChordError again, or a plain Error carrying the worker's stack for unexpected failures. */
export function deserializeError(s: SerializedError): Error {
  if (s.code) return new ChordError(s.code, s.message, s.hint);
  const e = new Error(s.message);
  if (s.stack) e.stack = s.stack;
  return e;
}
