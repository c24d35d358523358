/**
 * One ONNX Runtime session with typed feeding: the engine hands float32 / int32 arrays and gets
 * float32 back; this module converts to whatever the graph declares (fp16 graphs take and give
 * IEEE half bits, some text encoders take int64 ids). Creating a session tries the planned
 * providers in order and reports a fallback instead of hiding it.
 */
import { env, InferenceSession, Tensor } from 'onnxruntime-node';
import { ChordError } from '../errors';
import { type Dims, fromHalf, sizeOf, toHalf } from '../tensor';
import { CUDA_HINT, PROVIDER_LABELS, type ProviderName } from './providers';

/** Element types Chord feeds; anything else in a graph input is reported as unsupported. */
export type InputType = 'float32' | 'float16' | 'int32' | 'int64';

export interface InputInfo {
  name: string;
  type: InputType;
  /** numbers for fixed dimensions, names for symbolic ones */
  shape: readonly (number | string)[];
}

export interface Feed {
  /**
   * Float32Array for float inputs (converted to half for float16 ones on every run), Int32Array
   * for integer inputs, Uint16Array: IEEE half bits for a float16 input, already converted (for
   * constant inputs, so the conversion happens once, not per run).
   */
  data: Float32Array | Int32Array | Uint16Array;
  dims: Dims;
}

/** Something the user should see but that does not stop the work (a provider fallback). */
export interface EngineNotice {
  code: 'PROVIDER_FALLBACK' | 'LORA_PARTLY_APPLIED' | 'GRAPH_CONVERTED' | 'CACHE_UNAVAILABLE' | 'ORDER_AS_GIVEN' | 'LORA_DUPLICATE' | 'REGION_NORM_UNAVAILABLE';
  message: string;
}

export type NoticeSink = (notice: EngineNotice) => void;

const SUPPORTED: readonly string[] = ['float32', 'float16', 'int32', 'int64'];

/** First line of an ONNX Runtime message, without its source-file prefix. */
export function shortOrtMessage(e: unknown): string {
  const text = e instanceof Error ? e.message : String(e);
  const line = (text.split('\n').find((l) => l.trim().length > 0) ?? text).trim();
  const short = line
    .replace(/^\S+\.(?:cc|cpp|h):\d+\s+/, '') // the C++ source location
    .replace(/^[\w:~<>]+\([^)]*\)(?:::<lambda\(\)>)?\s+/, '') // the C++ function it was thrown in
    .trim();
  return short.length > 240 ? `${short.slice(0, 239)}…` : short;
}

export class ModelSession {
  readonly inputs: ReadonlyMap<string, InputInfo>;
  readonly outputNames: readonly string[];

  constructor(
    private readonly session: InferenceSession,
    /** what the graph is, for messages: e.g. 'glyph-sd/unet/model.onnx' */
    readonly label: string,
    /** the provider the session actually runs on */
    readonly provider: ProviderName,
  ) {
    const inputs = new Map<string, InputInfo>();
    for (const m of session.inputMetadata) {
      if (!m.isTensor || !SUPPORTED.includes(m.type)) {
        const type = m.isTensor ? m.type : 'a non-tensor value';
        throw new ChordError('MODEL_INVALID', `${label}: input "${m.name}" has type ${type}, which Chord cannot feed.`, 'Use a model exported in float32 or float16.');
      }
      inputs.set(m.name, { name: m.name, type: m.type as InputType, shape: m.shape });
    }
    this.inputs = inputs;
    this.outputNames = session.outputNames;
  }

  /** Names of inputs whose name starts with `prefix` (e.g. the LoRA inputs). */
  inputsStartingWith(prefix: string): InputInfo[] {
    return [...this.inputs.values()].filter((i) => i.name.startsWith(prefix));
  }

  /** The element type of float inputs (fp16 vs fp32 graph), from its first float input. */
  get floatType(): 'float32' | 'float16' {
    for (const i of this.inputs.values()) if (i.type === 'float16' || i.type === 'float32') return i.type;
    return 'float32';
  }

  /**
   * Runs the graph. Every input must be fed; `fetch` names the outputs wanted (default: the first).
   * Returns float32 copies of float outputs, by name. ONNX Runtime failures become RUNTIME errors.
   */
  async run(feeds: Record<string, Feed>, fetch: readonly string[] = [this.outputNames[0]]): Promise<Record<string, Float32Array>> {
    const shaped = await this.runShaped(feeds, fetch);
    return Object.fromEntries(Object.entries(shaped).map(([k, v]) => [k, v.data]));
  }

  /** As run(), with each output's dims. */
  async runShaped(feeds: Record<string, Feed>, fetch: readonly string[] = [this.outputNames[0]]): Promise<Record<string, { data: Float32Array; dims: number[] }>> {
    const tensors: Record<string, Tensor> = {};
    for (const info of this.inputs.values()) {
      const feed = feeds[info.name];
      if (!feed) throw new ChordError('RUNTIME', `${this.label}: no value for input "${info.name}".`);
      tensors[info.name] = feedTensor(feed, info, this.label);
    }
    let results: InferenceSession.OnnxValueMapType;
    try {
      results = await this.session.run(tensors, fetch as string[]);
    } catch (e) {
      throw new ChordError('RUNTIME', `${this.label} failed on ${PROVIDER_LABELS[this.provider]}: ${shortOrtMessage(e)}`, undefined, { cause: e });
    }
    const out: Record<string, { data: Float32Array; dims: number[] }> = {};
    for (const name of fetch) {
      const value = results[name];
      if (!(value instanceof Tensor)) throw new ChordError('RUNTIME', `${this.label} gave no output "${name}".`);
      out[name] = { data: floatData(value, this.label), dims: [...value.dims] };
      value.dispose();
    }
    return out;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

/** A feed as the tensor its input takes: float32 and matching integer data are not copied. */
export function feedTensor(feed: Feed, info: InputInfo, label: string): Tensor {
  const dims = [...feed.dims];
  if (sizeOf(dims) !== feed.data.length) {
    throw new ChordError('RUNTIME', `${label}: input "${info.name}" got ${feed.data.length} values for shape [${dims.join(', ')}].`);
  }
  const { data } = feed;
  switch (info.type) {
    case 'float32':
      if (data instanceof Float32Array) return new Tensor('float32', data, dims);
      break;
    case 'float16':
      if (data instanceof Float32Array) return new Tensor('float16', toHalf(data), dims);
      if (data instanceof Uint16Array) return new Tensor('float16', data, dims);
      break;
    case 'int32':
      if (data instanceof Int32Array) return new Tensor('int32', data, dims);
      break;
    case 'int64':
      if (data instanceof Int32Array) return new Tensor('int64', BigInt64Array.from(data, (v) => BigInt(v)), dims);
      break;
  }
  const given = data instanceof Float32Array ? 'floats' : data instanceof Uint16Array ? 'half floats' : 'integers';
  throw new ChordError('RUNTIME', `${label}: input "${info.name}" is ${info.type} but was given ${given}.`);
}

function floatData(t: Tensor, label: string): Float32Array {
  const data: unknown = t.data;
  if (t.type === 'float32' && data instanceof Float32Array) return new Float32Array(data);
  if (t.type === 'float16') {
    if (data instanceof Uint16Array) return fromHalf(data);
    // runtimes with a native Float16Array hand that out instead of raw bits
    if (ArrayBuffer.isView(data)) return Float32Array.from(data as unknown as ArrayLike<number>);
  }
  throw new ChordError('MODEL_INVALID', `${label}: output has type ${t.type}; Chord reads float32 or float16 outputs.`);
}

export interface CreateSessionOptions {
  /** providers to try, in order (see providerPlan) */
  providers: readonly ProviderName[];
  label: string;
  onNotice?: NoticeSink;
  /** ONNX Runtime intra-op threads; default: ONNX Runtime's choice */
  threads?: number;
}

/** ONNX Runtime's name for each provider, with the options Chord sets. */
function executionProvider(p: ProviderName): InferenceSession.ExecutionProviderConfig {
  return p;
}

/**
 * Creates a session on the first provider that starts. A GPU provider that fails is reported
 * through `onNotice` (never silently) and the next one is tried; if the CPU fails too, the model
 * itself is broken and that is a MODEL_INVALID naming the file.
 */
export async function createSession(source: string | Uint8Array, options: CreateSessionOptions): Promise<ModelSession> {
  const { providers, label } = options;
  // ONNX Runtime logs a failed provider on stderr before throwing; the throw becomes a notice or
  // an error with the same content, so its own log stays quiet unless debugging
  env.logLevel = process.env.CHORD_DEBUG ? 'warning' : 'fatal';
  let lastError: unknown;
  for (let i = 0; i < providers.length; i++) {
    const provider = providers[i];
    const sessionOptions: InferenceSession.SessionOptions = {
      executionProviders: [executionProvider(provider)],
      graphOptimizationLevel: 'all',
      // Attention biases of -1e4 (regional composition) leave exp() results far below float32's
      // normal range; on the CPU, arithmetic on such denormals is an order of magnitude slower
      // (a regional call took 1.7x Merge's instead of 1.3x). Flushing them to zero changes no
      // value that matters (they are below 1e-38).
      extra: { session: { set_denormal_as_zero: '1' } },
      ...(options.threads ? { intraOpNumThreads: options.threads } : {}),
    };
    try {
      const session =
        typeof source === 'string' ? await InferenceSession.create(source, sessionOptions) : await InferenceSession.create(source, sessionOptions);
      return new ModelSession(session, label, provider);
    } catch (e) {
      if (e instanceof ChordError) throw e;
      lastError = e;
      const next = providers[i + 1];
      if (next !== undefined) {
        options.onNotice?.({
          code: 'PROVIDER_FALLBACK',
          message: `${PROVIDER_LABELS[provider]} could not run ${label} (${shortOrtMessage(e)}); using ${PROVIDER_LABELS[next]} instead.${
            provider === 'cuda' && /shared library/i.test(String(e)) ? ` ${CUDA_HINT}` : ''
          }`,
        });
      }
    }
  }
  throw new ChordError('MODEL_INVALID', `${label} cannot be loaded: ${shortOrtMessage(lastError)}`, 'The file may be damaged or from an unsupported exporter; re-export the model.', { cause: lastError });
}
