/**
 * A restricted reader for PyTorch `torch.save` files (a zip archive: `<name>/data.pkl` plus one
 * entry per tensor storage under `<name>/data/`). A pickle is a program for Python's unpickler and
 * may name any Python callable; here its opcodes are interpreted only as far as the plain data a
 * saved state dict needs: dicts, lists, tuples, strings, numbers, booleans, None, and tensors
 * (`torch._utils._rebuild_tensor_v2` / `_rebuild_parameter` over storage references). Any other
 * global (the way a pickle "runs code") or opcode is refused with an error naming it. Nothing is
 * ever executed: the reader builds JS values, never calls anything the file names.
 */
import { unzipSync } from 'fflate';
import { ChordError } from '../errors';
import { halfToFloat } from '../half';

export interface TorchTensor {
  kind: 'tensor';
  dtype: 'float32' | 'float16' | 'bfloat16' | 'float64';
  shape: number[];
  /** values in row-major order of `shape` */
  data: Float32Array;
}

export type PickleValue = null | boolean | number | string | PickleValue[] | PickleDict | TorchTensor;
export interface PickleDict {
  kind: 'dict';
  entries: Map<string | number, PickleValue>;
}

/** A value only the reader uses while running the opcodes. */
type Internal = PickleValue | { kind: 'global'; name: string } | { kind: 'storage'; key: string; dtype: TorchTensor['dtype'] } | { kind: 'mark' };

const STORAGE_TYPES: Record<string, TorchTensor['dtype']> = {
  'torch FloatStorage': 'float32',
  'torch HalfStorage': 'float16',
  'torch BFloat16Storage': 'bfloat16',
  'torch DoubleStorage': 'float64',
};
const BYTES_PER: Record<TorchTensor['dtype'], number> = { float32: 4, float16: 2, bfloat16: 2, float64: 8 };
const ALLOWED_CALLS = new Set([
  'torch._utils _rebuild_tensor_v2',
  'torch._utils _rebuild_parameter',
  // newer PyTorch, for a parameter with extra Python state (which is dropped here)
  'torch._utils _rebuild_parameter_with_state',
  'collections OrderedDict',
]);

/** At most this many stored values in one file (an embedding has a few thousand). */
const MAX_ELEMENTS = 64 * 1024 * 1024;
/** Default limit of bytes unpacked from one archive: a small file must not inflate without bound. */
export const MAX_UNPACKED_BYTES = 512 * 1024 * 1024;

function refuse(file: string, what: string): never {
  throw new ChordError(
    'BAD_ARGUMENT',
    `${file} is not a plain embedding file: its pickle ${what}. Chord reads only tensors, dicts and plain values from .pt files and never runs code from them.`,
    'Use a .safetensors version of the embedding, or a .pt saved by A1111 or diffusers.',
  );
}

/** Reads a `torch.save` zip archive and returns its top-level value. */
export function readTorchZip(bytes: Uint8Array, file: string, maxUnpackedBytes = MAX_UNPACKED_BYTES): PickleValue {
  let entries: Record<string, Uint8Array>;
  let unpacked = 0;
  try {
    // only the pickle and tensor data are unpacked, and only up to the size limit
    entries = unzipSync(bytes, {
      filter: (f) => {
        if (!/^[^/]+\/(data\.pkl|data\/[^/]+)$/.test(f.name)) return false;
        unpacked += f.originalSize;
        if (unpacked > maxUnpackedBytes) {
          throw new ChordError('BAD_ARGUMENT', `${file} unpacks to more than ${maxUnpackedBytes} bytes, far more than an embedding.`, 'Check that it is a textual-inversion embedding.');
        }
        return true;
      },
    });
  } catch (e) {
    if (e instanceof ChordError) throw e;
    const legacy = bytes.length > 2 && bytes[0] === 0x80;
    throw new ChordError(
      'BAD_ARGUMENT',
      legacy ? `${file} is an old-style (pre-1.6) PyTorch file, which Chord does not read.` : `${file} is not a PyTorch .pt archive (${e instanceof Error ? e.message : String(e)}).`,
      legacy ? 'Re-save it with a current PyTorch, or use a .safetensors version.' : 'Check that it is a textual-inversion embedding.',
      { cause: e },
    );
  }
  const pklName = Object.keys(entries).find((n) => /^[^/]+\/data\.pkl$/.test(n));
  if (!pklName) throw new ChordError('BAD_ARGUMENT', `${file} has no data.pkl, so it is not a PyTorch file.`, 'Check that it is a textual-inversion embedding.');
  const prefix = pklName.slice(0, -'data.pkl'.length);
  const storage = (key: string): Uint8Array => {
    const data = entries[`${prefix}data/${key}`];
    if (!data) throw new ChordError('BAD_ARGUMENT', `${file} refers to tensor data ${key}, which the archive lacks.`, 'The file is damaged; download it again.');
    return data;
  };
  return runPickle(entries[pklName], file, storage);
}

function rebuildTensor(args: Internal[], file: string, storage: (key: string) => Uint8Array): TorchTensor {
  const [ref, offset, size, stride] = args;
  if (typeof ref !== 'object' || ref === null || !('kind' in ref) || ref.kind !== 'storage') refuse(file, 'builds a tensor from something other than stored data');
  const isInts = (v: Internal): v is number[] => Array.isArray(v) && v.every((x) => Number.isSafeInteger(x) && (x as number) >= 0);
  if (typeof offset !== 'number' || !isInts(size) || !isInts(stride) || size.length !== stride.length) refuse(file, 'has a tensor with an unreadable shape');
  const count = size.reduce((a, b) => a * b, 1);
  if (count > MAX_ELEMENTS) refuse(file, `has a tensor of ${count} values, far more than an embedding`);
  const raw = storage(ref.key);
  const bytesPer = BYTES_PER[ref.dtype];
  const available = Math.floor(raw.byteLength / bytesPer);
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const read = (i: number): number => {
    if (i >= available) throw new ChordError('BAD_ARGUMENT', `${file} has a tensor that reaches past its stored data.`, 'The file is damaged; download it again.');
    const at = i * bytesPer;
    switch (ref.dtype) {
      case 'float32':
        return view.getFloat32(at, true);
      case 'float64':
        return view.getFloat64(at, true);
      case 'float16':
        return halfToFloat(view.getUint16(at, true));
      case 'bfloat16': {
        const f = new DataView(new ArrayBuffer(4));
        f.setUint32(0, view.getUint16(at, true) << 16);
        return f.getFloat32(0);
      }
    }
  };
  const data = new Float32Array(count);
  // walk the indices in row-major order, reading through the strides (views need not be contiguous)
  const index = new Array<number>(size.length).fill(0);
  for (let n = 0; n < count; n++) {
    let at = offset;
    for (let d = 0; d < size.length; d++) at += index[d] * stride[d];
    data[n] = read(at);
    for (let d = size.length - 1; d >= 0; d--) {
      if (++index[d] < size[d]) break;
      index[d] = 0;
    }
  }
  return { kind: 'tensor', dtype: ref.dtype, shape: [...size], data };
}

function runPickle(pkl: Uint8Array, file: string, storage: (key: string) => Uint8Array): PickleValue {
  const view = new DataView(pkl.buffer, pkl.byteOffset, pkl.byteLength);
  const text = new TextDecoder('utf-8', { fatal: true });
  const stack: Internal[] = [];
  const memo = new Map<number, Internal>();
  let pos = 0;
  const need = (n: number) => {
    if (pos + n > pkl.length) refuse(file, 'ends early');
  };
  const u8 = () => (need(1), pkl[pos++]);
  const u16 = () => (need(2), (pos += 2), view.getUint16(pos - 2, true));
  const u32 = () => (need(4), (pos += 4), view.getUint32(pos - 4, true));
  const i32 = () => (need(4), (pos += 4), view.getInt32(pos - 4, true));
  const str = (n: number) => {
    need(n);
    pos += n;
    return text.decode(pkl.subarray(pos - n, pos));
  };
  const line = () => {
    const end = pkl.indexOf(0x0a, pos);
    if (end < 0) refuse(file, 'ends early');
    const s = new TextDecoder().decode(pkl.subarray(pos, end));
    pos = end + 1;
    return s;
  };
  const pop = (): Internal => {
    if (stack.length === 0) refuse(file, 'is malformed (empty stack)');
    return stack.pop() as Internal;
  };
  const popMark = (): Internal[] => {
    for (let i = stack.length - 1; i >= 0; i--) {
      const v = stack[i];
      if (typeof v === 'object' && v !== null && !Array.isArray(v) && v.kind === 'mark') {
        const items = stack.splice(i);
        return items.slice(1);
      }
    }
    refuse(file, 'is malformed (no mark)');
  };
  const asDict = (v: Internal): PickleDict => {
    if (typeof v === 'object' && v !== null && !Array.isArray(v) && v.kind === 'dict') return v;
    refuse(file, 'sets items on something that is not a dict');
  };
  const setItems = (dict: PickleDict, items: Internal[]) => {
    for (let i = 0; i + 1 < items.length; i += 2) {
      const key = items[i];
      if (typeof key !== 'string' && typeof key !== 'number') refuse(file, 'has a dict key that is not a string or number');
      dict.entries.set(key, items[i + 1] as PickleValue);
    }
  };

  for (;;) {
    const op = u8();
    switch (op) {
      case 0x80: // PROTO
        u8();
        break;
      case 0x95: // FRAME
        pos += 8;
        break;
      case 0x2e: {
        // STOP
        const v = pop();
        if (typeof v === 'object' && v !== null && !Array.isArray(v) && (v.kind === 'global' || v.kind === 'storage' || v.kind === 'mark')) refuse(file, 'ends on a non-value');
        return v as PickleValue;
      }
      case 0x7d: // EMPTY_DICT
        stack.push({ kind: 'dict', entries: new Map() });
        break;
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x29: // EMPTY_TUPLE
        stack.push([]);
        break;
      case 0x28: // MARK
        stack.push({ kind: 'mark' });
        break;
      case 0x74: // TUPLE
        stack.push(popMark() as PickleValue[]);
        break;
      case 0x85: // TUPLE1
        stack.push([pop()] as PickleValue[]);
        break;
      case 0x86: {
        // TUPLE2
        const b = pop();
        stack.push([pop(), b] as PickleValue[]);
        break;
      }
      case 0x87: {
        // TUPLE3
        const c = pop();
        const b = pop();
        stack.push([pop(), b, c] as PickleValue[]);
        break;
      }
      case 0x73: {
        // SETITEM
        const value = pop();
        const key = pop();
        setItems(asDict(stack[stack.length - 1]), [key, value]);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark();
        setItems(asDict(stack[stack.length - 1]), items);
        break;
      }
      case 0x61: {
        // APPEND
        const v = pop();
        const list = stack[stack.length - 1];
        if (!Array.isArray(list)) refuse(file, 'appends to something that is not a list');
        list.push(v as PickleValue);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        const list = stack[stack.length - 1];
        if (!Array.isArray(list)) refuse(file, 'appends to something that is not a list');
        list.push(...(items as PickleValue[]));
        break;
      }
      case 0x58: // BINUNICODE
        stack.push(str(u32()));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(str(u8()));
        break;
      case 0x4b: // BININT1
        stack.push(u8());
        break;
      case 0x4d: // BININT2
        stack.push(u16());
        break;
      case 0x4a: // BININT
        stack.push(i32());
        break;
      case 0x8a: {
        // LONG1
        const n = u8();
        need(n);
        let v = 0n;
        for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(pkl[pos + i]);
        if (n > 0 && pkl[pos + n - 1] & 0x80) v -= 1n << BigInt(8 * n);
        pos += n;
        if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) refuse(file, 'has an integer too large to read');
        stack.push(Number(v));
        break;
      }
      case 0x47: // BINFLOAT (big-endian)
        need(8);
        stack.push(view.getFloat64(pos, false));
        pos += 8;
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x71: // BINPUT
        memo.set(u8(), stack[stack.length - 1]);
        break;
      case 0x72: // LONG_BINPUT
        memo.set(u32(), stack[stack.length - 1]);
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, stack[stack.length - 1]);
        break;
      case 0x68: // BINGET
      case 0x6a: {
        // LONG_BINGET
        const k = op === 0x68 ? u8() : u32();
        if (!memo.has(k)) refuse(file, 'refers to a value it never stored');
        stack.push(memo.get(k) as Internal);
        break;
      }
      case 0x63: {
        // GLOBAL "module\nname\n"
        const name = `${line()} ${line()}`;
        if (!ALLOWED_CALLS.has(name) && !(name in STORAGE_TYPES)) refuse(file, `names the Python object "${name.replace(' ', '.')}"`);
        stack.push({ kind: 'global', name });
        break;
      }
      case 0x51: {
        // BINPERSID: ('storage', StorageType, key, location, numel)
        const pid = pop();
        if (!Array.isArray(pid) || pid[0] !== 'storage' || pid.length < 3) refuse(file, 'has a persistent reference that is not tensor storage');
        const type = pid[1] as Internal;
        const key = pid[2];
        if (typeof type !== 'object' || type === null || Array.isArray(type) || type.kind !== 'global' || !(type.name in STORAGE_TYPES) || typeof key !== 'string') {
          refuse(file, 'has tensor storage of a type Chord does not read (float32, float16, bfloat16 and float64 are read)');
        }
        stack.push({ kind: 'storage', key, dtype: STORAGE_TYPES[type.name] });
        break;
      }
      case 0x52: {
        // REDUCE: callable(*args), only for the allowed callables
        const args = pop();
        const fn = pop();
        if (typeof fn !== 'object' || fn === null || Array.isArray(fn) || fn.kind !== 'global' || !ALLOWED_CALLS.has(fn.name) || !Array.isArray(args)) {
          refuse(file, 'calls something other than a tensor rebuild');
        }
        if (fn.name === 'collections OrderedDict') stack.push({ kind: 'dict', entries: new Map() });
        else if (fn.name === 'torch._utils _rebuild_parameter' || fn.name === 'torch._utils _rebuild_parameter_with_state') {
          const t = args[0];
          if (typeof t !== 'object' || t === null || Array.isArray(t) || t.kind !== 'tensor') refuse(file, 'makes a parameter of something that is not a tensor');
          stack.push(t);
        } else stack.push(rebuildTensor(args as Internal[], file, storage));
        break;
      }
      case 0x62: {
        // BUILD: only the empty state of an OrderedDict (backward hooks) is accepted
        const state = pop();
        const target = stack[stack.length - 1];
        const empty = state === null || (typeof state === 'object' && !Array.isArray(state) && state.kind === 'dict' && state.entries.size === 0);
        if (!empty || typeof target !== 'object' || target === null || Array.isArray(target) || target.kind !== 'dict') refuse(file, 'sets the state of an object');
        break;
      }
      default:
        refuse(file, `uses the pickle instruction 0x${op.toString(16)}, which Chord does not read`);
    }
  }
}
