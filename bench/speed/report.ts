/**
 * Results -> rows with pass/fail against the targets -> a console table and the block of
 * docs/performance.md that holds them. Pure functions of the measured numbers.
 */
import { relative } from 'node:path';
import type { GraphBenchResult } from './graph-bench';
import type { ImageRun } from './image-bench';
import type { MachineInfo } from './machine';
import { formatBytes, formatMs, formatPct } from './format';
import type { Measurement } from './options';
import type { GraphConfig, LoraSwitchReport } from './protocol';
import { median, pairedComparison, relativeSpread } from './stats';

export interface SpeedResults {
  /** the command as typed, for the page */
  command: string;
  startedAt: string;
  durationMs: number;
  machine: MachineInfo;
  settings: { steps: number; reps: number; imageSteps: number; imagesPerProcess: number; size: number; loraCount: number; loraRank: number; quick: boolean };
  only: Measurement[];
  sd15Dir?: string;
  modelDir?: string;
  graph?: GraphBenchResult;
  images?: ImageRun[];
  /** (d) through Model.useLoras on the model folder */
  loraSwitch?: LoraSwitchReport;
}

/** The targets of docs/performance.md, as fractions. */
export const TARGETS = {
  engineOverhead: 0.05,
  rank0Overhead: 0.03,
  loraOverhead: 0.1,
  switchCost: 0.01,
  firstImageMs: 3000,
} as const;

export interface Row {
  id: Measurement;
  what: string;
  /** median per step / per image */
  value: string;
  /** (max - min) / median over the repetitions, and their count */
  spread: string;
  peakRss: string;
  /** paired median difference to the baseline row of the same letter, [min, max] */
  vsBaseline: string;
  target: string;
  verdict: 'pass' | 'FAIL' | 'baseline' | 'info';
}

/** Whether a-d ran on an SD 1.5-sized UNet (cross-attention 768, over 2 GB of weights). */
export function isSd15Scale(r: SpeedResults): boolean {
  const g = r.graph?.original ?? r.graph?.lora;
  return g !== undefined && g.contextWidth === 768 && g.weightBytes > 2e9;
}

const spreadText = (samples: readonly number[]) => `±${((relativeSpread(samples) * 100) / 2).toFixed(1)}% (n=${samples.length})`;

export function buildRows(r: SpeedResults): Row[] {
  const rows: Row[] = [];
  const g = r.graph;
  const s = r.settings;
  const run = (c: GraphConfig) => g?.runs[c];
  const has = (m: Measurement) => r.only.includes(m);
  const timeRow = (id: Measurement, what: string, c: GraphConfig): Row | undefined => {
    const x = run(c);
    if (!x || x.samples.length === 0) return undefined;
    return { id, what, value: `${formatMs(median(x.samples))}/step`, spread: spreadText(x.samples), peakRss: formatBytes(x.maxRssAfterWarmup), vsBaseline: 'baseline', target: '', verdict: 'baseline' };
  };
  const compared = (id: Measurement, what: string, base: GraphConfig, c: GraphConfig, target: number | undefined): Row | undefined => {
    const row = timeRow(id, what, c);
    const b = run(base);
    const x = run(c);
    if (!row || !b || !x) return undefined;
    const cmp = pairedComparison(b.samples, x.samples);
    row.vsBaseline = `${formatPct(cmp.delta)} [${formatPct(cmp.min)}, ${formatPct(cmp.max)}]`;
    row.target = target === undefined ? '' : `≤ ${formatPct(target, 0)}`;
    row.verdict = target === undefined ? 'info' : cmp.delta <= target ? 'pass' : 'FAIL';
    return row;
  };
  const push = (row: Row | undefined) => {
    if (row) rows.push(row);
  };
  const R = s.loraCount * s.loraRank;
  const lora = g?.lora;
  const kohyaLayers = lora?.kohyaLayers !== undefined && lora.branches !== undefined ? `${lora.kohyaLayers} of ${lora.branches} layers` : 'their layers';
  const allLayers = lora?.branches !== undefined ? `all ${lora.branches} layers` : 'all layers';
  const loras = `${s.loraCount} LoRAs × rank ${s.loraRank}`;
  const bareWhat = 'bare onnxruntime-node loop, original graph';
  if (has('a')) {
    push(timeRow('a', bareWhat, 'bare'));
    push(compared('a', 'engine step (ModelSession.run with its feeds + CFG + scheduler), same graph', 'bare', 'engine', TARGETS.engineOverhead));
  }
  if (has('b')) {
    if (!has('a')) push(timeRow('b', bareWhat, 'bare'));
    push(compared('b', 'LoRA-rewritten graph, rank 0 (no LoRA), bare loop', 'bare', 'rank0', TARGETS.rank0Overhead));
  }
  if (has('c')) {
    if (!has('a') && !has('b')) push(timeRow('c', bareWhat, 'bare'));
    const kohya = `rewritten graph, ${loras}, standard kohya (attention, ff, proj_in/out: ${kohyaLayers} at rank ${R}, the others at 0), gate ≠ 0, bare loop`;
    push(compared('c', kohya, 'bare', 'kohya', TARGETS.loraOverhead));
    push(compared('c', `rewritten graph, ${loras}, LoCon-style (${allLayers} at rank ${R}), gate ≠ 0, bare loop`, 'bare', 'locon', undefined));
  }
  if (has('d')) {
    push(timeRow('d', `engine, ${loras} (kohya), same LoRAs every step`, 'steady'));
    push(compared('d', `engine, ${loras} (kohya), active LoRA + down/up/slots switched every step`, 'steady', 'switch', undefined));
    const costs = g?.costs;
    const steady = run('steady');
    if (costs && steady && steady.samples.length > 0) {
      const step = median(steady.samples);
      const ok = costs.feedsMs / step < TARGETS.switchCost && costs.sessionsCreated === 1 && costs.sameSession;
      rows.push({
        id: 'd',
        what: `switch cost: new gate + down/up/slots feeds as tensors; sessions created: ${costs.sessionsCreated}, same session: ${costs.sameSession ? 'yes' : 'NO'}`,
        value: formatMs(costs.feedsMs),
        spread: '',
        peakRss: formatBytes(costs.maxRss),
        vsBaseline: `${formatPct(costs.feedsMs / step, 2)} of a step`,
        target: '< 1%, no new session',
        verdict: ok ? 'pass' : 'FAIL',
      });
      rows.push({
        id: 'd',
        what: 'new set of LoRAs: building the LoRA stack (once per change of set, not per step)',
        value: formatMs(costs.stackMs),
        spread: '',
        peakRss: '',
        vsBaseline: `${formatPct(costs.stackMs / step, 1)} of a step`,
        target: '',
        verdict: 'info',
      });
    }
  }
  const ls = r.loraSwitch;
  if (has('d') && ls) {
    rows.push({
      id: 'd',
      what:
        `engine API on the model folder: Model.useLoras(${ls.count} kohya LoRAs × rank ${ls.rank}), gate switched every pass, then another set; ` +
        `same UNet and text-encoder sessions: ${ls.sameSessions ? 'yes' : 'NO'}`,
      value: `${formatMs(ls.setSwitchMs)} (new set)`,
      spread: '',
      peakRss: formatBytes(ls.maxRss),
      vsBaseline: `gate switching ${formatPct(ls.gatePassMs / ls.steadyPassMs - 1)}/pass; 1st pass after new set ${formatMs(ls.passAfterSetSwitchMs)} (steady ${formatMs(ls.steadyPassMs)})`,
      target: 'no new session',
      verdict: ls.sameSessions ? 'pass' : 'FAIL',
    });
  }
  const images = r.images ?? [];
  if (images.length > 0) {
    const first = images.map((i) => i.startToFirstMs);
    const size = `${images[0].report.width}×${images[0].report.height}`;
    if (has('e')) {
      const m = median(first);
      rows.push({
        id: 'e',
        what: `first image after process start (fresh process: imports, open model, sessions, ${s.imageSteps} steps at ${size}, PNG saved)`,
        value: formatMs(m),
        spread: spreadText(first),
        peakRss: formatBytes(Math.max(...images.map((i) => i.report.maxRssFirst))),
        vsBaseline: '',
        target: `< ${TARGETS.firstImageMs / 1000} s`,
        verdict: m < TARGETS.firstImageMs ? 'pass' : 'FAIL',
      });
    }
    const each = images.flatMap((i) => i.report.imageMs);
    if (has('f') && each.length > 0) {
      const m = median(each);
      rows.push({
        id: 'f',
        what: `images per second, warm (${s.imageSteps} steps at ${size}, PNG saved)`,
        value: `${(1000 / m).toFixed(2)} img/s (${formatMs(m)}/image)`,
        spread: spreadText(each),
        peakRss: formatBytes(Math.max(...images.map((i) => i.report.maxRss))),
        vsBaseline: '',
        target: '',
        verdict: 'info',
      });
    }
  }
  return rows;
}

const HEADER = ['', 'measurement', 'median', 'spread', 'peak RSS', 'vs. baseline', 'target', 'result'];

/** Table cells of a row; a smoke run's verdicts are shown in parentheses (the targets do not apply). */
function cells(row: Row, smoke: boolean): string[] {
  const verdict = row.verdict === 'baseline' ? '' : smoke && row.verdict !== 'info' ? `(${row.verdict.toLowerCase()})` : row.verdict;
  return [row.id, row.what, row.value, row.spread, row.peakRss, row.vsBaseline, row.target, verdict];
}

/** Rows as an aligned plain-text table for the terminal. */
export function textTable(rows: readonly Row[], smoke = false): string {
  const all = [HEADER, ...rows.map((r) => cells(r, smoke))];
  const widths = HEADER.map((_, i) => Math.max(...all.map((r) => r[i].length)));
  return all.map((r) => r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd()).join('\n');
}

export function markdownTable(rows: readonly Row[], smoke = false): string {
  const esc = (c: string) => c.replace(/\|/g, '\\|');
  const line = (r: readonly string[]) => `| ${r.map(esc).join(' | ')} |`;
  return [line(HEADER), line(HEADER.map(() => '---')), ...rows.map((r) => line(cells(r, smoke)))].join('\n');
}

/** The doc block a run fills: SD 1.5-scale full runs, or smoke runs (--quick or a stand-in UNet). */
export type DocBlock = 'main' | 'smoke';

export function docBlockOf(r: SpeedResults): DocBlock {
  const unetRan = r.only.some((m) => m === 'a' || m === 'b' || m === 'c' || m === 'd');
  return r.settings.quick || (unetRan && !isSd15Scale(r)) ? 'smoke' : 'main';
}

export function markers(block: DocBlock): { begin: string; end: string } {
  return { begin: `<!-- speed:${block}:begin -->`, end: `<!-- speed:${block}:end -->` };
}

/** The results of one run as the markdown that goes between its block's markers. */
export function resultsMarkdown(r: SpeedResults, rows: readonly Row[]): string {
  const m = r.machine;
  const g = r.graph;
  const unet = g?.original ?? g?.lora;
  const scale = isSd15Scale(r);
  const lines: string[] = [];
  if (docBlockOf(r) === 'smoke') {
    lines.push(
      `**Small-model smoke run, not SD 1.5 scale.** ${unet && !scale ? `The UNet of a–d is a stand-in (cross-attention width ${unet.contextWidth}, ${formatBytes(unet.weightBytes)} of weights), ` : ''}${r.settings.quick ? 'with `--quick` counts; ' : ''}these numbers only show that every path runs. They say nothing about the targets.`,
      '',
    );
  }
  lines.push(`Run ${r.startedAt.replace('T', ' ').replace(/\.\d+Z$/, ' UTC')}, ${Math.round(r.durationMs / 1000)} s in all:`, '', '```sh', r.command, '```', '');
  lines.push(
    `Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB RAM (${m.freeMemoryGiB} free at start), ${m.os}; Node ${m.node}, ${m.onnxruntime}, ${m.provider}, ` +
      `intra-op threads: ${m.threads}; load average at start ${m.loadAverage}.`,
    '',
  );
  const s = r.settings;
  if (unet) {
    lines.push(
      `a–d: \`${r.sd15Dir && (relative(process.cwd(), r.sd15Dir) || '.')}\`, latents ${unet.latent.join('×')} (${s.size}×${s.size} px), CFG batch 2, context 77×${unet.contextWidth}, ` +
        `${formatBytes(unet.weightBytes)} of weights; ${s.reps} repetitions × ${s.steps} timed step${s.steps === 1 ? '' : 's'} per configuration after one untimed step, ` +
        'configurations interleaved (order reversed every other repetition).',
    );
  }
  if (r.images && r.images.length > 0) {
    lines.push(`e–f: \`${r.modelDir && (relative(process.cwd(), r.modelDir) || '.')}\`, ${r.images.length} fresh processes, each: first image, then ${s.imagesPerProcess} more.`);
  }
  lines.push('', markdownTable(rows, docBlockOf(r) === 'smoke'), '');
  const notes: string[] = [];
  if (g?.original) notes.push(`original graph session: created in ${formatMs(g.original.sessionMs)}`);
  if (g?.lora) {
    notes.push(
      `rewritten graph: ${g.lora.branches} LoRA branches, ${g.lora.rewriteCached ? 'taken from the cache' : `rewrite ${formatMs(g.lora.rewriteMs)}`}, session created in ${formatMs(g.lora.sessionMs)}`,
    );
  }
  for (const kind of ['original', 'lora'] as const) {
    const peak = g?.finalMaxRss[kind];
    if (peak) notes.push(`${kind === 'original' ? 'original' : 'rewritten'}-graph process peak RSS at the end: ${formatBytes(peak)}`);
  }
  if (r.images && r.images.length > 0) {
    const rep = r.images.map((i) => i.report);
    notes.push(
      `first image breakdown (medians): node + tsx start ${formatMs(median(rep.map((x) => x.bootMs)))}, imports until ${formatMs(median(rep.map((x) => x.importedMs)))}, ` +
        `open model + sessions ${formatMs(median(rep.map((x) => x.loadModelMs)))}, image + save ${formatMs(median(rep.map((x) => x.firstImageTotalMs)))}; ` +
        `process start to first image by the child's own clock ${formatMs(median(rep.map((x) => x.firstImageMs)))} (the table's value adds process creation)`,
    );
  }
  if (notes.length > 0) lines.push(...notes.map((n) => `- ${n}`), '');
  return lines.join('\n');
}

/**
 * `doc` with the given block's contents replaced (markers kept); a document without the markers
 * gets the block appended under a heading.
 */
export function updateDoc(doc: string, block: DocBlock, content: string): string {
  const { begin, end } = markers(block);
  const i = doc.indexOf(begin);
  const j = doc.indexOf(end);
  const body = `${begin}\n${content.trim()}\n${end}`;
  if (i >= 0 && j > i) return doc.slice(0, i) + body + doc.slice(j + end.length);
  const heading = block === 'main' ? '## Results at SD 1.5 scale' : '## Smoke run (small models)';
  return `${doc.trimEnd()}\n\n${heading}\n\n${body}\n`;
}
