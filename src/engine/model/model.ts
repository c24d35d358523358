/**
 * An opened model: its checked folder, tokenizer and noise schedule, and one session per graph,
 * created on first use and reused for every generation. The three graph calls of a pipeline
 * (encodeText, predictNoise, decodeLatents) hide input names and element types.
 *
 * Every graph a session runs is the model's own graph after a chain of graph passes
 * (graph-passes.ts, docs/graph-passes.md): fp32 for an fp16 graph on the CPU, the run-time LoRA
 * branches, and the UNet cut. The first time LoRAs are used, the text encoder and UNet switch once
 * to their LoRA-capable graphs; from then on adding, removing, re-weighting or reordering LoRAs
 * only changes inputs, and no session is created again. The first cached pass switches the UNet
 * once more, to the graph that also outputs its deep feature, and opens the shallow graph.
 */
import { ChordError } from '../errors';
import { loraFileHashes } from '../lora/hash';
import { mapLoraToTargets } from '../lora/mapping';
import { locateLora, readLoraFile } from '../lora/parse';
import type { LoraModule, LoraTarget, ModelPart } from '../lora/types';
import type { HashCache } from '../hash';
import { loadSchedulerConfig, type SchedulerConfig } from '../schedulers';
import type { FloatTensor, IntTensor } from '../tensor';
import { loadTokenizer, type Tokenizer } from '../tokenizer';
import { type GraphName, inspectModelFolder, type ModelFolder } from './folder';
import { derivedGraph, isFloat16Graph } from './derived-graphs';
import { chainName, type GraphPass } from './graph-passes';
import { branchInputs, LoraStack } from './lora-stack';
import { LORA_CPU_PASS, LORA_PASS, UPCAST_PASS } from './passes';
import { DEEP_FEATURE, UNET_DEEP_OUTPUT_PASS, UNET_SHALLOW_PASS } from './unet-cut-passes';
import { REGIONAL_ATTN_MAP, REGIONAL_PASS, regionalFeeds, type RegionalInfo, type RegionalLayout } from './regional-pass';
import { detectProviderEnvironment, providerPlan, type ProviderChoice, type ProviderName } from './providers';
import { createSession, type Feed, type ModelSession, type NoticeSink } from './session';
import { EMBEDDINGS_PASS, embeddingRowsFeed, isTokenTable } from './embedding-pass';
import { EXTRA_ROWS_INPUT, type TokenTable } from '../onnx';

export interface OpenModelOptions {
  /** execution provider; default 'auto' */
  provider?: ProviderChoice;
  onNotice?: NoticeSink;
  /** ONNX Runtime intra-op threads; default: ONNX Runtime's choice */
  threads?: number;
  /** where rewritten graphs go (see cache-dir.ts); needed only for LoRAs */
  cacheDir?: string;
  /** remembered file hashes, shared by an engine */
  hashes?: HashCache;
}

/** A LoRA file read and matched against this model's layers. */
export interface LoadedLora {
  path: string;
  /** file name without extension */
  name: string;
  /** sha256 of the file */
  fileHash: string;
  /** what A1111 writes for this file in "Lora hashes" (lora/hash.ts a1111ShortHash), 12 hex */
  a1111Hash: string;
  modules: LoraModule[];
  /** one line, e.g. "matched 120 of 192 modules (unet 100/160, text_encoder 20/32)" */
  summary: string;
  /** modules of a type without an activation form (LoHa, LoKr, DoRA, full): not applied at run time */
  skippedModules: number;
  /** the file's metadata (kohya ss_*, modelspec.*, chord.category, ...) */
  metadata: Readonly<Record<string, string>>;
}

/** Per LoRA (in the order of `useLoras`), how strongly it is applied in one pass; 0 = off. */
export type LoraWeights = readonly number[];

/**
 * How deep a UNet call goes (CMLoRA's caching, docs/composition.md): 'full' the whole UNet;
 * 'fill' the whole UNet, also returning the deep feature entering its last up block; 'shallow'
 * only the outer blocks, from a deep feature given back.
 */
export type UnetDepth = 'full' | 'fill' | 'shallow';

/** One UNet call: a batch of rows, each with its own LoRA weights. */
export interface UnetRun {
  /** noisy latents [batch, C, h, w] */
  sample: FloatTensor;
  timestep: number;
  /** text context [batch, seq, C'] */
  context: FloatTensor;
  /** the LoRA weights of each batch row (batch entries), or one set for every row */
  loras: readonly LoraWeights[] | LoraWeights;
  /** default 'full' */
  depth?: UnetDepth;
  /** 'shallow' only: the deep feature of each row, as a 'fill' call returned it */
  deepFeature?: FloatTensor;
  /** regional composition (docs/regional.md): the regions every row shares; needs useRegional() */
  regional?: RegionalLayout;
  /** also return the regional pass's head-averaged cross-attention map */
  attentionMap?: boolean;
}

export interface UnetOutput {
  /** noise prediction, shaped as the sample */
  eps: Float32Array;
  /** 'fill' only: the deep feature of each row [batch, ...] */
  deepFeature?: FloatTensor;
  /** when asked: [batch, positions of the coarsest attention level, tokens] */
  attentionMap?: FloatTensor;
}

/** Session roles: the UNet's shallow graph is a session of its own. */
type SessionRole = GraphName | 'unet_shallow';

const NO_LORA: LoraWeights = [];
const LORA_MEMO_SIZE = 8;

export class Model {
  /** by role; each holds the chain it was made with, so a role whose chain changed is reopened */
  private readonly sessions = new Map<SessionRole, { chain: string; session: Promise<ModelSession> }>();
  private readonly providers: ProviderName[];
  /** text encoder and UNet run their LoRA-capable graphs (from the first useLoras on) */
  private loraEnabled = false;
  /** the LoRA targets of each part's graph, once its LoRA-capable session exists */
  private readonly targets = new Map<ModelPart, LoraTarget[]>();
  /** fp16 graphs that landed on the CPU and run upcast to float32 */
  private readonly upcast = new Set<GraphName>();
  /**
   * the UNet runs the graph that also outputs its deep feature, and a shallow session exists
   * (from the first cached pass on; undefined until tried, false when the cut failed)
   */
  private cutEnabled: boolean | undefined;
  /** the UNet runs the regional-attention graph (from the first regional generation on) */
  private regionalInfo: RegionalInfo | undefined;
  private regionalEnabled = false;
  /**
   * The last call's regional feeds: every step of an image passes the same layout object, so its
   * maps and masks are built once per image (and once for all calls without regions)
   */
  private regionalFeedMemo?: { info: RegionalInfo; layout: RegionalLayout | undefined; key: string; feeds: Record<string, Feed> };
  private stacks = new Map<ModelPart, LoraStack>();
  private loraCount = 0;
  /** the text encoder runs the graph that takes embedding rows (from the first useEmbeddings on) */
  private embeddingsEnabled = false;
  /** its token table, once that session exists */
  private tokenTable: TokenTable | undefined;
  /** LoRA files already read and matched, by file hash */
  private readonly loraMemo = new Map<string, LoadedLora>();

  constructor(
    readonly folder: ModelFolder,
    readonly tokenizer: Tokenizer,
    readonly schedulerConfig: SchedulerConfig,
    private readonly options: OpenModelOptions,
  ) {
    this.providers = providerPlan(options.provider ?? 'auto', detectProviderEnvironment());
  }

  /** The provider the UNet runs on, once its session exists. */
  async provider(): Promise<ProviderName> {
    return (await this.session('unet')).provider;
  }

  /** The pass chain each session role runs now. */
  private passesFor(role: SessionRole): GraphPass[] {
    const graph: GraphName = role === 'unet_shallow' ? 'unet' : role;
    const passes: GraphPass[] = [];
    if (this.upcast.has(graph)) passes.push(UPCAST_PASS);
    if (this.loraEnabled && graph !== 'vae_decoder') {
      // CPU-only sessions sum conv branches inside FusedConv; with a GPU provider first the graph
      // keeps plain ops every provider has (a GPU that falls back to the CPU runs those)
      passes.push(this.providers[0] === 'cpu' ? LORA_CPU_PASS : LORA_PASS);
    }
    if (graph === 'unet' && this.regionalEnabled) passes.push(REGIONAL_PASS);
    if (role === 'text_encoder' && this.embeddingsEnabled) passes.push(EMBEDDINGS_PASS);
    if (role === 'unet' && this.cutEnabled) passes.push(UNET_DEEP_OUTPUT_PASS);
    if (role === 'unet_shallow') passes.push(UNET_SHALLOW_PASS);
    return passes;
  }

  /**
   * The session of a role, created once for the chain of passes the role runs now (on the
   * LoRA-capable graph once LoRAs were used, and so on); a role whose chain changed gets a new
   * session and the old one is released.
   */
  session(role: SessionRole): Promise<ModelSession> {
    const chain = chainName(this.passesFor(role));
    const open = this.sessions.get(role);
    if (open?.chain === chain) return open.session;
    if (open) void open.session.then((x) => x.release(), () => undefined);
    const session = this.createGraphSession(role);
    this.sessions.set(role, { chain, session });
    // a failed creation is not cached: the next call tries again
    session.catch(() => {
      if (this.sessions.get(role)?.session === session) this.sessions.delete(role);
    });
    return session;
  }

  private async createGraphSession(role: SessionRole): Promise<ModelSession> {
    const name: GraphName = role === 'unet_shallow' ? 'unet' : role;
    const passes = this.passesFor(role);
    let path = this.folder.graphs[name];
    if (passes.length > 0) {
      const cacheDir = this.options.cacheDir;
      if (!cacheDir) throw new ChordError('RUNTIME', `${this.folder.name}/${name} needs a cache folder for its converted graph.`);
      if (passes.includes(UPCAST_PASS) && role !== 'unet_shallow') {
        this.options.onNotice?.({
          code: 'GRAPH_CONVERTED',
          message: `${this.folder.name}/${name} is float16, which the CPU runs poorly; using a float32 copy (made once, kept in ${cacheDir}).`,
        });
      }
      const derived = await derivedGraph(path, name, passes, cacheDir, this.options.hashes);
      path = derived.path;
      if (this.loraEnabled && name !== 'vae_decoder') this.targets.set(name as ModelPart, derived.targets);
      if (name === 'unet' && derived.info.regional) this.regionalInfo = derived.info.regional as RegionalInfo;
      if (passes.includes(EMBEDDINGS_PASS)) {
        const table = derived.info[EMBEDDINGS_PASS.key];
        if (!isTokenTable(table)) throw new ChordError('RUNTIME', `The cached text encoder of ${this.folder.name} lacks its token-table record.`, 'Delete the graphs folder in the Chord cache and try again.');
        this.tokenTable = table;
      }
    }
    // an fp16 graph either loads on the CPU and is caught below, or fails for want of float16
    // kernels: then it is upcast and tried again
    const canUpcast = !this.upcast.has(name) && this.options.cacheDir !== undefined && this.providers.includes('cpu');
    const label = `${this.folder.name}/${name}/model.onnx${role === 'unet_shallow' ? ' (shallow part)' : ''}`;
    let session: ModelSession;
    try {
      session = await createSession(path, { providers: this.providers, label, onNotice: this.options.onNotice, threads: this.options.threads });
    } catch (e) {
      if (!(e instanceof ChordError && e.code === 'MODEL_INVALID' && canUpcast && (await isFloat16Graph(this.folder.graphs[name]).catch(() => false)))) throw e;
      this.upcast.add(name);
      return this.createGraphSession(role);
    }
    try {
      checkGraphInputs(name, session);
    } catch (e) {
      await session.release();
      throw e;
    }
    if (session.provider === 'cpu' && session.floatType === 'float16' && canUpcast) {
      await session.release();
      this.upcast.add(name);
      return this.createGraphSession(role);
    }
    return session;
  }

  /** Creates every session a generation needs (so its cost is not charged to the first step). */
  async load(): Promise<void> {
    await Promise.all((['text_encoder', 'unet', 'vae_decoder'] as const).map((g) => this.session(g)));
  }

  /**
   * Makes these LoRAs (in this order) the ones `LoraWeights` refer to. Reads and matches each file
   * against the model's layers; the first call switches the text encoder and UNet to their
   * rewritten graphs. An empty list keeps whatever graphs are open and applies no LoRA.
   */
  async useLoras(paths: readonly string[]): Promise<LoadedLora[]> {
    if (paths.length === 0 && !this.loraEnabled) {
      this.stacks.clear();
      this.loraCount = 0;
      return [];
    }
    // a mistyped path should fail before the (first-time, slow) graph rewrite
    await Promise.all(paths.map((p) => locateLora(p)));
    if (!this.loraEnabled) {
      if (!this.options.cacheDir) throw new ChordError('RUNTIME', 'LoRAs need a cache folder for rewritten graphs.');
      this.loraEnabled = true;
      // the sessions on the original graphs are replaced once, by session() below
    }
    const sessions = { text_encoder: await this.session('text_encoder'), unet: await this.session('unet') };
    const targets = [...(this.targets.get('text_encoder') ?? []), ...(this.targets.get('unet') ?? [])];
    const loaded: LoadedLora[] = [];
    for (const path of paths) loaded.push(await this.loadLora(path, targets));
    for (const part of ['text_encoder', 'unet'] as const) {
      const session = sessions[part];
      const branches = branchInputs(session.inputs, session.label);
      if (!branches) throw new ChordError('RUNTIME', `${session.label} has no LoRA inputs after the rewrite.`);
      this.stacks.set(part, new LoraStack(part, branches, loaded));
    }
    this.loraCount = loaded.length;
    return loaded;
  }

  /**
   * Reads and matches one LoRA, or reuses the result for an unchanged file (known by its hash,
   * which the hash memo makes cheap): re-generating with the same LoRAs reads nothing again.
   */
  private async loadLora(path: string, targets: readonly LoraTarget[]): Promise<LoadedLora> {
    const loc = await locateLora(path);
    const { sha256: fileHash, a1111: a1111Hash } = await loraFileHashes(loc.file, this.options.hashes);
    const base = path.replace(/[\\/]+$/, '').split(/[\\/]/).pop() ?? path;
    const name = base.replace(/\.safetensors$/i, '');
    const known = this.loraMemo.get(fileHash);
    if (known) return { ...known, path, name };
    const parsed = await readLoraFile(path);
    const mapped = mapLoraToTargets(parsed, targets);
    const loaded: LoadedLora = {
      path,
      name,
      fileHash,
      a1111Hash,
      modules: mapped.modules,
      summary: mapped.report.summary,
      skippedModules: mapped.deltas.length,
      metadata: parsed.metadata,
    };
    this.loraMemo.set(fileHash, loaded);
    // a few LoRAs of a typical stack; older ones are read again if used again
    if (this.loraMemo.size > LORA_MEMO_SIZE) this.loraMemo.delete(this.loraMemo.keys().next().value as string);
    return loaded;
  }

  /** The LoRA pass's feeds: one set of LoRA weights per batch row. */
  private loraFeeds(part: ModelPart, session: ModelSession, rows: readonly LoraWeights[]): Record<string, Feed> {
    const stack = this.stacks.get(part);
    if (stack) {
      const bad = rows.find((w) => w.length !== this.loraCount);
      if (bad) throw new RangeError(`got ${bad.length} LoRA weights for ${this.loraCount} LoRAs`);
      return stack.rowFeeds(rows);
    }
    if (rows.some((w) => w.some((x) => x !== 0))) throw new RangeError('LoRA weights given but no LoRAs are in use');
    // a rewritten graph with no LoRAs in use: rank-0 branches, exactly the original outputs
    const branches = branchInputs(session.inputs, session.label);
    return branches ? new LoraStack(part, branches, []).rowFeeds(rows.map(() => [])) : {};
  }

  /**
   * Switches the text encoder (once) to the graph whose token lookup takes extra rows, and returns
   * its token table: placeholder ids start at `vocabSize`, rows are `width` wide.
   */
  async useEmbeddings(): Promise<TokenTable> {
    if (!this.embeddingsEnabled) {
      if (!this.options.cacheDir) throw new ChordError('RUNTIME', 'Embeddings need a cache folder for the rewritten text encoder.');
      this.embeddingsEnabled = true;
    }
    await this.session('text_encoder');
    if (!this.tokenTable) throw new ChordError('RUNTIME', `${this.folder.name}/text_encoder has no token table after the rewrite.`);
    return this.tokenTable;
  }

  /**
   * Text encoder: token windows [batch, maxLength] -> last hidden state [batch, maxLength, C].
   * `weights`: one set for every row, or one per row. `embeddingRows`: the rows placeholder ids
   * stand for (useEmbeddings), [rows * width].
   */
  async encodeText(ids: IntTensor, weights: LoraWeights | readonly LoraWeights[] = NO_LORA, embeddingRows?: Float32Array): Promise<FloatTensor> {
    const s = await this.session('text_encoder');
    const batch = ids.dims[0];
    const rows = isRowList(weights) ? weights : Array.from({ length: batch }, () => weights as LoraWeights);
    if (rows.length !== batch) throw new RangeError(`LoRA weights for ${rows.length} rows, batch has ${batch}`);
    const feeds: Record<string, Feed> = { input_ids: ids, ...this.loraFeeds('text_encoder', s, rows) };
    if (s.inputs.has(EXTRA_ROWS_INPUT)) {
      if (!this.tokenTable) throw new RangeError('the text encoder takes embedding rows but its token table is unknown');
      Object.assign(feeds, embeddingRowsFeed(this.tokenTable, embeddingRows ?? new Float32Array(0)));
    } else if (embeddingRows && embeddingRows.length > 0) throw new RangeError('embedding rows given before useEmbeddings()');
    const out = await s.run(feeds, [s.outputNames[0]]);
    const data = out[s.outputNames[0]];
    const tokens = ids.dims[1];
    return { data, dims: [batch, tokens, data.length / (batch * tokens)] };
  }

  /**
   * UNet: noisy latents [batch, C, h, w] at `timestep`, text context [batch, seq, C'] ->
   * noise prediction of the same shape as the latents, every row with the same LoRA weights.
   */
  async predictNoise(sample: FloatTensor, timestep: number, context: FloatTensor, weights: LoraWeights = NO_LORA): Promise<Float32Array> {
    return (await this.runUnet({ sample, timestep, context, loras: weights })).eps;
  }

  /**
   * Whether this UNet can be cut for cached passes (docs/composition.md, "UNet cut"). The first
   * call switches the UNet to the graph that also outputs its deep feature and opens the shallow
   * graph; a UNet that cannot be cut gives false, with a notice, and methods use full passes.
   */
  async enableCachedPasses(): Promise<boolean> {
    if (this.cutEnabled !== undefined) return this.cutEnabled;
    if (!this.options.cacheDir) {
      this.cutEnabled = false;
      return false;
    }
    this.cutEnabled = true;
    try {
      await Promise.all([this.session('unet'), this.session('unet_shallow')]);
    } catch (e) {
      if (!(e instanceof ChordError) || e.code === 'CANCELLED') throw e;
      this.cutEnabled = false;
      this.sessions.get('unet_shallow')?.session.then((x) => x.release(), () => undefined);
      this.sessions.delete('unet_shallow');
      this.options.onNotice?.({
        code: 'CACHE_UNAVAILABLE',
        message: `${this.folder.name}: cached passes are off (${e.message}); every pass is a full UNet pass.`,
      });
    }
    return this.cutEnabled;
  }

  /**
   * Switches the UNet to the regional-attention graph (docs/regional.md), or back (`on` false);
   * while on, a call without regions feeds neutral inputs and gives exactly the plain graph's
   * outputs, at the cost of the (idle) region ops. Each switch opens a session once.
   */
  async useRegional(on = true): Promise<void> {
    if (this.regionalEnabled === on) return;
    if (on && !this.options.cacheDir) throw new ChordError('RUNTIME', 'Regional composition needs a cache folder for its rewritten UNet.');
    this.regionalEnabled = on;
    await this.session('unet');
    // the regional methods run full passes only, and the regional graph cannot be cut (its region
    // inputs reach the blocks a shallow pass skips): the shallow session is opened again when
    // regions are off and a method asks for cached passes
    if (this.cutEnabled && !on) await this.session('unet_shallow');
  }

  /** GroupNorms the regional graph can give per-region statistics (undefined until useRegional) */
  get regionNorms(): number | undefined {
    return this.regionalEnabled ? this.regionalInfo?.regionNorms : undefined;
  }

  /** One UNet call (see UnetRun): full, full with its deep feature, or shallow. */
  async runUnet(run: UnetRun): Promise<UnetOutput> {
    const depth = run.depth ?? 'full';
    if (depth !== 'full' && !this.cutEnabled) throw new RangeError(`a ${depth} UNet pass needs enableCachedPasses() first`);
    const s = await this.session(depth === 'shallow' ? 'unet_shallow' : 'unet');
    const { sample, timestep, context } = run;
    const batch = sample.dims[0];
    const rows = isRowList(run.loras) ? run.loras : Array.from({ length: batch }, () => run.loras as LoraWeights);
    if (rows.length !== batch) throw new RangeError(`LoRA weights for ${rows.length} rows, batch has ${batch}`);
    const t = s.inputs.get('timestep');
    // exports differ: float or integer timesteps, one per batch item or a single one
    const tCount = t && t.shape.length === 1 && t.shape[0] === 1 ? 1 : t && t.shape.length === 0 ? 1 : batch;
    const tIsInt = t?.type === 'int64' || t?.type === 'int32';
    const tValues = tIsInt ? new Int32Array(tCount).fill(Math.round(timestep)) : new Float32Array(tCount).fill(timestep);
    const feeds: Record<string, Feed> = {
      sample,
      timestep: { data: tValues, dims: t && t.shape.length === 0 ? [] : [tCount] },
      encoder_hidden_states: context,
      ...this.loraFeeds('unet', s, rows),
    };
    if (depth === 'shallow') {
      if (!run.deepFeature || run.deepFeature.dims[0] !== batch) throw new RangeError('a shallow pass needs the deep feature of each row');
      feeds[DEEP_FEATURE] = run.deepFeature;
    }
    if (run.regional && !this.regionalEnabled) throw new RangeError('a regional UNet pass needs useRegional() first');
    if (this.regionalEnabled) {
      if (!this.regionalInfo) throw new ChordError('RUNTIME', `${s.label} has no regional inputs after the rewrite.`);
      const stack = this.stacks.get('unet');
      const [, , h, w] = sample.dims;
      const shape = { h, w, tokens: context.dims[1], blocks: stack?.blocks ?? [], totalRank: stack?.totalRank ?? 0 };
      const key = JSON.stringify(shape);
      const memo = this.regionalFeedMemo;
      if (memo && memo.info === this.regionalInfo && memo.layout === run.regional && memo.key === key) Object.assign(feeds, memo.feeds);
      else {
        const made = regionalFeeds(this.regionalInfo, run.regional, shape);
        this.regionalFeedMemo = { info: this.regionalInfo, layout: run.regional, key, feeds: made };
        Object.assign(feeds, made);
      }
    }
    const eps = s.outputNames[0];
    const fetch = depth === 'fill' ? [eps, DEEP_FEATURE] : [eps];
    if (run.attentionMap) {
      if (!this.regionalEnabled || depth === 'shallow') throw new RangeError('an attention map needs a full regional UNet pass');
      fetch.push(REGIONAL_ATTN_MAP);
    }
    const out = await s.runShaped(feeds, fetch);
    return { eps: out[eps].data, deepFeature: depth === 'fill' ? out[DEEP_FEATURE] : undefined, attentionMap: run.attentionMap ? out[REGIONAL_ATTN_MAP] : undefined };
  }

  /** VAE decoder: latents [1, C, h, w] (already divided by the latent scale) -> image [1, 3, H, W] in [-1, 1]. */
  async decodeLatents(latents: FloatTensor): Promise<FloatTensor> {
    const s = await this.session('vae_decoder');
    const out = await s.run({ latent_sample: latents });
    const [b, , h, w] = latents.dims;
    const f = this.folder.downscale;
    return { data: out[s.outputNames[0]], dims: [b, 3, h * f, w * f] };
  }

  /** Releases every session; the model cannot be used afterwards. */
  async release(): Promise<void> {
    const all = [...this.sessions.values()];
    this.sessions.clear();
    await Promise.all(all.map((s) => s.session.then((x) => x.release(), () => undefined)));
  }
}

function isRowList(loras: UnetRun['loras']): loras is readonly LoraWeights[] {
  return loras.length > 0 && typeof loras[0] !== 'number';
}

/** The inputs each graph must have; anything else (besides LoRA inputs) is a model Chord cannot drive. */
const REQUIRED_INPUTS: Record<GraphName, readonly string[]> = {
  text_encoder: ['input_ids'],
  unet: ['sample', 'timestep', 'encoder_hidden_states'],
  vae_decoder: ['latent_sample'],
};

/** Checks a session's inputs against what the pipeline feeds. */
export function checkGraphInputs(name: GraphName, s: ModelSession): void {
  const required = REQUIRED_INPUTS[name];
  const missing = required.filter((n) => !s.inputs.has(n));
  const extra = [...s.inputs.keys()].filter((n) => !required.includes(n) && !n.startsWith('lora.') && !n.startsWith('regional.') && n !== DEEP_FEATURE && n !== EXTRA_ROWS_INPUT);
  if (missing.length > 0 || extra.length > 0) {
    const what = [missing.length ? `lacks input ${missing.join(', ')}` : '', extra.length ? `needs input ${extra.join(', ')}, which Chord does not provide` : '']
      .filter(Boolean)
      .join(' and ');
    throw new ChordError('MODEL_INVALID', `${s.label} ${what}.`, 'Chord runs SD 1.x/2.x models in the diffusers ONNX layout (SDXL is not supported).');
  }
}

/**
 * Opens a model folder: checks its files, reads tokenizer and schedule. Sessions are created on
 * first use (or by `load()`); a graph whose inputs Chord cannot feed is reported then.
 */
export async function openModel(dir: string, options: OpenModelOptions = {}): Promise<Model> {
  const folder = await inspectModelFolder(dir);
  const [tokenizer, schedulerConfig] = await Promise.all([loadTokenizer(folder.dir), loadSchedulerConfig(folder.dir)]);
  return new Model(folder, tokenizer, schedulerConfig, options);
}
