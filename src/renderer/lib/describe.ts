/** One line a person can act on, from whatever was thrown. */
import { ApiError } from '../../shared/api';

export function describeError(error: unknown): string {
  if (error instanceof ApiError) return error.userText();
  return error instanceof Error ? error.message : String(error);
}

/** "1.2 s", "1 min 05 s" */
export function formatDuration(ms: number): string {
  const s = Math.max(0, ms) / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  return `${m} min ${String(Math.round(s - m * 60)).padStart(2, '0')} s`;
}
