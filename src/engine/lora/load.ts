/** Read a LoRA file (or PEFT folder) and resolve it against a model's targets in one call. */
import { mapLoraToTargets, type MappedLora } from './mapping';
import { readLoraFile } from './parse';
import type { LoraKeyStyle } from './keys';
import type { LoraTarget } from './types';

export interface LoadedLora extends MappedLora {
  source: string;
  format: LoraKeyStyle;
  metadata: Record<string, string>;
}

export async function loadLora(path: string, targets: readonly LoraTarget[]): Promise<LoadedLora> {
  const parsed = await readLoraFile(path);
  const mapped = mapLoraToTargets(parsed, targets);
  return { ...mapped, source: parsed.source, format: parsed.format, metadata: parsed.metadata };
}
