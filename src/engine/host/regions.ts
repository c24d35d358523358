/**
 * Regions as users write them (docs/regional.md): the CLI's `--region "X0,Y0,X1,Y1|PROMPT|NEGATIVE|FILE:W,FILE:W"`
 * and `--regions FILE.json`. Parsing only; the engine checks boxes (inside the image, area,
 * overlaps, count: pipeline/regional.ts checkRegions).
 */
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, join } from 'node:path';
import * as v from 'valibot';
import { ChordError } from '../errors';
import type { LoraRequest, RegionRequest } from './engine';

/** FILE[:weight], the weight split off at the last colon when a number follows it. */
function loraSpec(text: string): LoraRequest {
  const i = text.lastIndexOf(':');
  if (i > 0 && /^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$/.test(text.slice(i + 1))) return { path: text.slice(0, i).trim(), weight: Number(text.slice(i + 1)) };
  return { path: text.trim(), weight: 1 };
}

/** One `--region` value: box | prompt | negative | LoRAs; every field after the box may be empty. */
export function parseRegionSpec(text: string): RegionRequest {
  const fields = text.split('|');
  if (fields.length > 4) throw new ChordError('BAD_ARGUMENT', `--region "${text}" has ${fields.length} fields; expected at most 4: X0,Y0,X1,Y1|PROMPT|NEGATIVE|FILE:W,FILE:W.`, 'A prompt cannot hold "|".');
  const box = fields[0].split(',').map((p) => p.trim());
  if (box.length !== 4 || box.some((p) => p === '' || !Number.isFinite(Number(p)))) {
    throw new ChordError('BAD_ARGUMENT', `--region "${text}": the box must be four numbers X0,Y0,X1,Y1 (fractions of the image from the top-left).`);
  }
  const loras = (fields[3] ?? '').split(',').map((s) => s.trim()).filter(Boolean).map(loraSpec);
  return {
    box: box.map(Number) as RegionRequest['box'],
    prompt: (fields[1] ?? '').trim(),
    negative: (fields[2] ?? '').trim(),
    loras,
  };
}

const RegionsFileSchema = v.array(
  v.object({
    box: v.tuple([v.number(), v.number(), v.number(), v.number()]),
    prompt: v.optional(v.string(), ''),
    negative: v.optional(v.string(), ''),
    loras: v.optional(v.array(v.object({ path: v.pipe(v.string(), v.minLength(1)), weight: v.optional(v.pipe(v.number(), v.finite()), 1) })), []),
  }),
);

/**
 * A `--regions` file: `[{"box": [x0, y0, x1, y1], "prompt": "...", "negative": "...", "loras":
 * [{"path": "...", "weight": 1}]}]`. Relative LoRA paths are taken from the file's folder.
 */
export async function readRegionsFile(file: string): Promise<RegionRequest[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new ChordError('FILE_NOT_FOUND', `Cannot read the regions file ${file} (${(e as NodeJS.ErrnoException).code ?? 'error'}).`, 'Check the path given to --regions.', { cause: e });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ChordError('BAD_ARGUMENT', `${file} is not valid JSON (${(e as Error).message}).`);
  }
  const parsed = v.safeParse(RegionsFileSchema, json);
  if (!parsed.success) {
    const issue = parsed.issues[0];
    const path = v.getDotPath(issue);
    throw new ChordError('BAD_ARGUMENT', `${file}: ${path ? `${path}: ` : ''}${issue.message}.`, 'Expected [{"box": [x0, y0, x1, y1], "prompt": "...", "negative": "...", "loras": [{"path": "...", "weight": 1}]}].');
  }
  const base = dirname(file);
  return parsed.output.map((r) => ({
    box: r.box,
    prompt: r.prompt,
    negative: r.negative,
    loras: r.loras.map((l) => ({ path: isAbsolute(l.path) ? l.path : join(base, l.path), weight: l.weight })),
  }));
}
