/**
 * The form and the stack survive a reload of the page (or a restart of the app): kept in the
 * page's localStorage, per browser profile. The queue and the gallery live on the host instead.
 */
import type { ChordSession } from './session.svelte';
import { boxOf, boxTuple } from './regions';
import type { SeedMode } from './settings.svelte';

const KEY = 'chord.workspace';

interface Saved {
  prompt: string;
  negativePrompt: string;
  seedMode: SeedMode;
  seed: number;
  steps: number;
  cfg: number;
  sampler: string;
  width: number;
  height: number;
  batchCount: number;
  modelId: string;
  provider: string;
  method: string;
  alsoMethods: string[];
  promptPerLine: boolean;
  methodOptions: Record<string, number | boolean>;
  stack: { id: string; weight: number }[];
  regions: { box: [number, number, number, number]; prompt: string; negative: string; loras: { id: string; weight: number }[] }[];
  showRegions: boolean;
}

export function saveWorkspace(session: ChordSession): void {
  const s = session.settings;
  const saved: Saved = {
    prompt: s.prompt,
    negativePrompt: s.negativePrompt,
    seedMode: s.seedMode,
    seed: s.seed,
    steps: s.steps,
    cfg: s.cfg,
    sampler: s.sampler,
    width: s.width,
    height: s.height,
    batchCount: s.batchCount,
    modelId: s.modelId,
    provider: s.provider,
    method: session.stack.method,
    alsoMethods: [...session.stack.alsoMethods],
    promptPerLine: s.promptPerLine,
    methodOptions: { ...session.stack.methodOptions },
    stack: session.stack.items.map((i) => ({ id: i.lora.id, weight: i.weight })),
    regions: session.regions.items.map((r) => ({ box: boxTuple(r.box), prompt: r.prompt, negative: r.negative, loras: r.loras.map((l) => ({ id: l.lora.id, weight: l.weight })) })),
    showRegions: session.regions.showOverlay,
  };
  try {
    localStorage.setItem(KEY, JSON.stringify(saved));
  } catch {
    // storage full or disabled: the workspace is simply not remembered
  }
}

/** Puts back what was saved, where it still fits (a model or LoRA that is gone is skipped). */
export function restoreWorkspace(session: ChordSession): void {
  let saved: Partial<Saved>;
  try {
    saved = JSON.parse(localStorage.getItem(KEY) ?? '{}') as Partial<Saved>;
  } catch {
    return;
  }
  const s = session.settings;
  const num = (v: unknown, set: (n: number) => void) => {
    if (typeof v === 'number' && Number.isFinite(v)) set(v);
  };
  if (typeof saved.modelId === 'string' && session.models.some((m) => m.id === saved.modelId)) session.chooseModel(saved.modelId);
  if (typeof saved.prompt === 'string') s.prompt = saved.prompt;
  if (typeof saved.negativePrompt === 'string') s.negativePrompt = saved.negativePrompt;
  if (saved.seedMode === 'random' || saved.seedMode === 'fixed' || saved.seedMode === 'increment') s.seedMode = saved.seedMode;
  num(saved.seed, (n) => (s.seed = n));
  num(saved.steps, (n) => (s.steps = n));
  num(saved.cfg, (n) => (s.cfg = n));
  num(saved.width, (n) => (s.width = n));
  num(saved.height, (n) => (s.height = n));
  num(saved.batchCount, (n) => (s.batchCount = n));
  if (typeof saved.provider === 'string' && (s.providers as readonly string[]).includes(saved.provider)) s.provider = saved.provider as typeof s.provider;
  if (typeof saved.sampler === 'string' && (s.samplers as readonly string[]).includes(saved.sampler)) s.sampler = saved.sampler as typeof s.sampler;
  if (typeof saved.method === 'string' && session.info?.engine.methods.some((m) => m.name === saved.method)) {
    session.stack.chooseMethod(saved.method, typeof saved.methodOptions === 'object' && saved.methodOptions ? saved.methodOptions : {});
  }
  if (typeof saved.promptPerLine === 'boolean') s.promptPerLine = saved.promptPerLine;
  for (const m of Array.isArray(saved.alsoMethods) ? saved.alsoMethods : []) {
    if (typeof m === 'string' && session.info?.engine.methods.some((x) => x.name === m)) session.stack.toggleAlso(m, true);
  }
  for (const item of Array.isArray(saved.stack) ? saved.stack : []) {
    const lora = session.library.byId(item.id);
    if (lora && typeof item.weight === 'number') session.stack.add(lora, session.stack.items.length, item.weight);
  }
  for (const r of Array.isArray(saved.regions) ? saved.regions : []) {
    const box = Array.isArray(r?.box) && r.box.length === 4 && r.box.every((v) => typeof v === 'number' && Number.isFinite(v)) ? boxOf(r.box) : undefined;
    if (!box || !session.regions.add(box)) continue;
    const i = session.regions.items.length - 1;
    if (typeof r.prompt === 'string') session.regions.items[i].prompt = r.prompt;
    if (typeof r.negative === 'string') session.regions.items[i].negative = r.negative;
    for (const l of Array.isArray(r.loras) ? r.loras : []) {
      const lora = session.library.byId(l?.id);
      if (lora && typeof l.weight === 'number') session.regions.bind(i, lora, l.weight);
    }
  }
  session.regions.selected = undefined;
  if (typeof saved.showRegions === 'boolean') session.regions.showOverlay = saved.showRegions;
}
