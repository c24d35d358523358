/**
 * `chord compare`: every cell of the grid through one engine worker (the model stays loaded),
 * the same prompt and seed everywhere, each cell saved with its Chord record (so `chord generate
 * --from` remakes it), then one labelled grid PNG.
 */
import { mkdir } from 'node:fs/promises';
import { basename, dirname, extname, join } from 'node:path';
import type { CliIo } from '../cli';
import { ChordError } from '../errors';
import { type GenerateRequest, startEngineWorker } from '../host';
import type { ProviderChoice } from '../model/providers';
import { cellScale, gridLayout, writeGrid } from './grid';
import { planCompare, rowLabel, rowOrder } from './plan';

export interface CompareOptions {
  negative?: string;
  model: string;
  lora?: { path: string; weight: number }[];
  orders?: string;
  methods?: string;
  steps?: number;
  cfg?: number;
  sampler?: string;
  seed?: number;
  width?: number;
  height?: number;
  provider?: string;
  out?: string;
  json?: boolean;
}

export interface CompareSummary {
  grid: string;
  width: number;
  height: number;
  /** each cell's size in the grid (the images, scaled up by a whole factor when small) */
  cellWidth: number;
  cellHeight: number;
  seed: number;
  /** a permutation row also has its order (LoRA names) */
  rows: { label: string; order?: string[] }[];
  columns: string[];
  /** `order`: the LoRAs in the order the method took them (as its step log reports) */
  cells: { row: number; column: number; method: string; order: string[]; file: string }[];
}

/** Where the cells go: `<grid stem>-cells/` beside the grid. */
export function cellFolder(gridFile: string): string {
  return join(dirname(gridFile), `${basename(gridFile, extname(gridFile))}-cells`);
}

const pad2 = (n: number) => String(n).padStart(2, '0');

export async function runCompare(
  prompt: string,
  o: CompareOptions,
  host: { io: CliIo; signal: AbortSignal; provider: ProviderChoice },
): Promise<number> {
  const { io, signal } = host;
  if (!o.out) throw new ChordError('BAD_ARGUMENT', 'chord compare needs --out FILE.png for the grid.', 'For example --out grid.png (the cells go to grid-cells/ beside it).');
  const loras = o.lora ?? [];
  const plan = planCompare(loras.length, o.orders, o.methods);
  // one seed for the whole grid, so only the order and the method differ between cells
  const seed = o.seed ?? Math.floor(Math.random() * 2 ** 31);
  const cellsDir = cellFolder(o.out);
  await mkdir(cellsDir, { recursive: true });

  const engine = startEngineWorker({ onNotice: (n) => io.err(`chord: warning: ${n.message.replace(/\s*\n\s*/g, ' ').trim()}`) });
  let names: string[] | undefined;
  const summary: CompareSummary = { grid: o.out, width: 0, height: 0, cellWidth: 0, cellHeight: 0, seed, rows: [], columns: plan.methods, cells: [] };
  const files: string[][] = plan.rows.map(() => []);
  let size = { width: 0, height: 0 };
  const total = plan.rows.length * plan.methods.length;
  try {
    for (const [r, row] of plan.rows.entries()) {
      for (const [c, method] of plan.methods.entries()) {
        if (signal.aborted) throw new ChordError('CANCELLED', 'Compare cancelled.');
        const file = join(cellsDir, `r${pad2(r + 1)}-c${pad2(c + 1)}-${method}.png`);
        const cell = summary.cells.length + 1;
        const request: GenerateRequest = {
          model: o.model,
          prompt,
          negativePrompt: o.negative,
          loras: loras.map((l) => ({ path: l.path, weight: l.weight })),
          steps: o.steps,
          cfg: o.cfg,
          sampler: o.sampler,
          seed,
          width: o.width,
          height: o.height,
          output: { file },
          provider: host.provider,
          method: { name: method, options: {} },
          order: rowOrder(row, names),
        };
        io.progress?.(`cell ${cell}/${total}...`);
        const result = await engine.generate(request, {
          signal,
          onProgress: io.progress ? (p) => io.progress?.(`cell ${cell}/${total}  step ${p.step}/${p.total}`) : undefined,
        });
        names ??= result.loras.map((l) => l.name);
        const image = result.images[0];
        if (r === 0 && c === 0) size = { width: image.width, height: image.height };
        if (c === 0) summary.rows.push({ label: rowLabel(row, names), ...(row.kind === 'permutation' ? { order: row.order.map((k) => names?.[k] ?? '') } : {}) });
        summary.cells.push({ row: r, column: c, method, order: image.method.order, file: image.file });
        files[r][c] = image.file;
      }
    }
  } finally {
    io.progress?.('');
    await engine.close();
  }

  const scale = cellScale(size.width);
  summary.cellWidth = size.width * scale;
  summary.cellHeight = size.height * scale;
  const layout = gridLayout({ rowLabels: summary.rows.map((row) => row.label), columnLabels: plan.methods, cellWidth: summary.cellWidth, cellHeight: summary.cellHeight });
  await writeGrid(o.out, layout, files);
  summary.width = layout.width;
  summary.height = layout.height;
  if (o.json) io.out(JSON.stringify(summary));
  else io.out(o.out);
  return 0;
}
