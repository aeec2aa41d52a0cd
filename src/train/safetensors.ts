import { closeSync, fstatSync, openSync, readSync, writeSync } from 'node:fs';

/**
 * Reader/writer of the safetensors format (huggingface/safetensors): an 8-byte little-endian
 * header length N, N bytes of UTF-8 JSON `{name: {dtype, shape, data_offsets: [begin, end]}}`
 * plus an optional `__metadata__` (string → string), then the raw little-endian, row-major tensor
 * bytes. Python reads it with `safetensors.numpy.load_file` or plain numpy. sparse-rl reads and
 * writes the dtypes its checkpoints and exports use: F32, U8, U16 and U32.
 */
export interface NamedTensor {
  readonly data: Float32Array | Uint8Array | Uint16Array | Uint32Array;
  readonly shape: readonly number[];
}

/** Bits per element of every dtype of the format (safetensors `Dtype::bitsize`, `safetensors/src/tensor.rs`). */
const DTYPE_BITS: Readonly<Record<string, number>> = {
  BOOL: 8, F4: 4, F6_E2M3: 6, F6_E3M2: 6, U8: 8, I8: 8, F8_E5M2: 8, F8_E4M3: 8, F8_E8M0: 8, F8_E4M3FNUZ: 8, F8_E5M2FNUZ: 8,
  I16: 16, U16: 16, F16: 16, BF16: 16, I32: 32, U32: 32, F32: 32, C64: 64, F64: 64, I64: 64, U64: 64,
};

/** The dtypes sparse-rl reads into typed arrays. */
const READABLE = ['F32', 'U8', 'U16', 'U32'] as const;
const ARRAYS = { F32: Float32Array, U8: Uint8Array, U16: Uint16Array, U32: Uint32Array } as const;

/** The reference's limit on N (`MAX_HEADER_SIZE`, 100,000,000 bytes). */
export const MAX_HEADER_BYTES = 100_000_000;

/**
 * A malformed or unreadable safetensors file. `code` is the reference implementation's error
 * (`SafeTensorError::HeaderTooSmall`, `InvalidOffset`, …) where it has one, or
 * `DuplicateKey` / `InvalidHeaderStart` (rules of the format's specification) / `UnsupportedDtype`.
 */
export class SafetensorsError extends Error {
  override readonly name = 'SafetensorsError';
  constructor(readonly file: string, readonly code: string, message: string, readonly tensor?: string) {
    super(`${file}: ${tensor === undefined ? '' : `tensor ${JSON.stringify(tensor)}: `}${message} (${code})`);
  }
}

/**
 * The 8-byte little-endian header length and the JSON header of `tensors` (insertion order),
 * padded with spaces so the data start 8-byte aligned.
 * @throws Error on a shape that does not match a tensor's data, a tensor named `__metadata__`, a non-string metadata value
 */
function encodeHeader(tensors: ReadonlyMap<string, NamedTensor>, metadata: Record<string, string>): { header: Buffer; dataBytes: number } {
  const header: Record<string, unknown> = { __metadata__: metadata };
  for (const [k, v] of Object.entries(metadata)) if (typeof v !== 'string') throw new Error(`safetensors metadata ${k} must be a string, got ${typeof v}`);
  let offset = 0;
  for (const [name, t] of tensors) {
    if (name === '__metadata__') throw new Error('safetensors: a tensor cannot be named __metadata__');
    const dtype = t.data instanceof Float32Array ? 'F32' : t.data instanceof Uint8Array ? 'U8' : t.data instanceof Uint16Array ? 'U16' : t.data instanceof Uint32Array ? 'U32' : null;
    if (!dtype) throw new Error(`safetensors: tensor ${name} must be a Float32Array, Uint8Array, Uint16Array or Uint32Array`);
    const elements = t.shape.reduce((a, b) => a * b, 1);
    if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0) || elements !== t.data.length) {
      throw new Error(`safetensors: tensor ${name} has ${t.data.length} elements, shape [${t.shape.join(', ')}] needs ${elements}`);
    }
    const bytes = t.data.byteLength;
    header[name] = { dtype, shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8); // align data to 8 bytes
  const headerBytes = Buffer.from(json, 'utf8');
  const out = Buffer.alloc(8 + headerBytes.length);
  out.writeBigUInt64LE(BigInt(headerBytes.length), 0);
  headerBytes.copy(out, 8);
  return { header: out, dataBytes: offset };
}

const bytesOf = (t: NamedTensor) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);

/** Encodes tensors (in insertion order) and string metadata to safetensors bytes (one Buffer; `writeSafetensors` streams large ones). */
export function encodeSafetensors(tensors: ReadonlyMap<string, NamedTensor>, metadata: Record<string, string> = {}): Buffer {
  return Buffer.concat([encodeHeader(tensors, metadata).header, ...[...tensors.values()].map(bytesOf)]);
}

/**
 * Writes tensors (in insertion order) and string metadata to `file` as safetensors, tensor by
 * tensor (no copy of the data: a multi-GB replay buffer needs no second buffer in memory).
 * @throws the write's system error (e.g. ENOSPC); Error as `encodeSafetensors` on bad tensors
 */
export function writeSafetensors(file: string, tensors: ReadonlyMap<string, NamedTensor>, metadata: Record<string, string> = {}): void {
  const { header } = encodeHeader(tensors, metadata);
  const fd = openSync(file, 'w');
  try {
    writeAll(fd, header);
    for (const t of tensors.values()) writeAll(fd, bytesOf(t));
  } finally {
    closeSync(fd);
  }
}

function writeAll(fd: number, bytes: Buffer): void {
  for (let done = 0; done < bytes.length; ) done += writeSync(fd, bytes, done, Math.min(bytes.length - done, 1 << 30));
}

/** One validated header entry. */
interface Entry {
  readonly name: string;
  readonly dtype: string;
  readonly shape: number[];
  readonly begin: number;
  readonly end: number;
}

/**
 * Reads a safetensors file, strictly: everything the reference implementation rejects
 * (`SafeTensors::deserialize`, huggingface/safetensors `safetensors/src/tensor.rs`) is rejected,
 * plus what the format's specification forbids and that implementation lets through (a header
 * not starting with `{`, duplicate keys):
 *
 * - the file is shorter than 8 bytes (`HeaderTooSmall`);
 * - N > 100,000,000 (`HeaderTooLarge`) or 8 + N > the file size (`InvalidHeaderLength`);
 * - the header is not UTF-8 (`InvalidHeader`), does not start with `{` (`InvalidHeaderStart`),
 *   is not JSON or not an object of the expected shape (`InvalidHeaderDeserialization`: an entry
 *   without `dtype`, `shape` or `data_offsets`, a dtype the format does not define, a shape that is
 *   not a list of non-negative integers, offsets that are not two non-negative integers,
 *   `__metadata__` that is not an object of strings), or repeats a key (`DuplicateKey`);
 * - sorted by offsets, the tensors must tile the data section exactly: each begins where the
 *   previous one ended, the first at 0, with end ≥ begin (`InvalidOffset`: overlaps and gaps);
 *   each spans prod(shape) × dtype size bytes (`TensorInvalidInfo`; `ValidationOverflow`,
 *   `MisalignedSlice` for sub-byte dtypes); the last ends exactly at the end of the file
 *   (`MetadataIncompleteBuffer`: trailing bytes, or data past the end).
 *
 * A valid file whose tensors have another dtype than F32, U8, U16 or U32 is rejected as `UnsupportedDtype`.
 * Only the header is read before validation; each tensor's bytes are then read into their own
 * (aligned) array, so files larger than 2 GiB are fine.
 * @returns the tensors in file order and the metadata (`{}` when absent)
 * @throws SafetensorsError naming the file, the tensor where there is one, and the rule
 */
export function readSafetensors(file: string): { tensors: Map<string, NamedTensor>; metadata: Record<string, string> } {
  const fd = openSync(file, 'r');
  try {
    const size = fstatSync(fd).size;
    const fail = (code: string, message: string, tensor?: string): never => {
      throw new SafetensorsError(file, code, message, tensor);
    };
    if (size < 8) fail('HeaderTooSmall', `${size} bytes, shorter than the 8-byte header length`);
    const n64 = readAt(fd, 0, 8).readBigUInt64LE(0);
    if (n64 > BigInt(MAX_HEADER_BYTES)) fail('HeaderTooLarge', `header length ${n64} exceeds the limit of ${MAX_HEADER_BYTES} bytes`);
    const n = Number(n64);
    if (8 + n > size) fail('InvalidHeaderLength', `header length ${n} runs past the end of the file (${size} bytes)`);
    const { entries, metadata } = parseHeader(readAt(fd, 8, n), size - 8 - n, fail);
    const tensors = new Map<string, NamedTensor>();
    for (const e of entries) {
      if (!(READABLE as readonly string[]).includes(e.dtype)) {
        fail('UnsupportedDtype', `dtype ${e.dtype} is valid safetensors but sparse-rl reads only ${READABLE.join(', ')}`, e.name);
      }
    }
    for (const e of entries) {
      const bytes = new Uint8Array(e.end - e.begin);
      try {
        readInto(fd, bytes, 8 + n + e.begin);
      } catch (err) {
        throw new SafetensorsError(file, 'IoError', (err as Error).message, e.name);
      }
      tensors.set(e.name, { data: new ARRAYS[e.dtype as keyof typeof ARRAYS](bytes.buffer), shape: e.shape });
    }
    return { tensors, metadata };
  } finally {
    closeSync(fd);
  }
}

/** Validates the header against the reference rules; returns the entries sorted by offset. */
function parseHeader(raw: Buffer, dataLength: number, fail: (code: string, message: string, tensor?: string) => never): { entries: Entry[]; metadata: Record<string, string> } {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(raw);
  } catch {
    return fail('InvalidHeader', 'header is not valid UTF-8');
  }
  if (!text.startsWith('{')) fail('InvalidHeaderStart', `header must start with '{', got ${JSON.stringify(text.slice(0, 16))}`);
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    return fail('InvalidHeaderDeserialization', `header is not valid JSON (${(e as Error).message})`);
  }
  if (!isObject(header)) return fail('InvalidHeaderDeserialization', 'header is not a JSON object');
  const duplicate = firstDuplicateKey(text);
  if (duplicate) {
    const inTensor = duplicate.in !== undefined && duplicate.in !== '__metadata__';
    fail('DuplicateKey', `the key ${JSON.stringify(duplicate.key)} appears twice ${inTensor ? 'in its entry' : duplicate.in ? 'in __metadata__' : 'in the header'}`, inTensor ? duplicate.in : undefined);
  }
  const bad = (message: string, tensor?: string): never => fail('InvalidHeaderDeserialization', message, tensor);
  const natural = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

  let metadata: Record<string, string> = {};
  const entries: Entry[] = [];
  for (const [name, h] of Object.entries(header)) {
    if (name === '__metadata__') {
      if (h === null) continue;
      if (!isObject(h)) bad(`__metadata__ must be an object of strings, got ${JSON.stringify(h)}`);
      for (const [k, v] of Object.entries(h as object)) if (typeof v !== 'string') bad(`__metadata__.${k} must be a string, got ${JSON.stringify(v)}`);
      metadata = h as Record<string, string>;
      continue;
    }
    if (!isObject(h)) bad(`entry must be an object {dtype, shape, data_offsets}, got ${JSON.stringify(h)}`, name);
    const { dtype, shape, data_offsets: offsets } = h as Record<string, unknown>;
    for (const [field, v] of [['dtype', dtype], ['shape', shape], ['data_offsets', offsets]] as const) if (v === undefined) bad(`missing ${field}`, name);
    if (typeof dtype !== 'string') bad(`dtype must be a string, got ${JSON.stringify(dtype)}`, name);
    if (!Object.hasOwn(DTYPE_BITS, dtype as string)) bad(`unknown dtype ${JSON.stringify(dtype)} (the format defines ${Object.keys(DTYPE_BITS).join(', ')})`, name);
    if (!Array.isArray(shape) || !shape.every(natural)) bad(`shape must be a list of non-negative integers, got ${JSON.stringify(shape)}`, name);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(natural)) bad(`data_offsets must be [begin, end] with non-negative integers, got ${JSON.stringify(offsets)}`, name);
    const [begin, end] = offsets as number[];
    entries.push({ name, dtype: dtype as string, shape: shape as number[], begin, end });
  }

  // The reference's `Metadata::validate`: sorted by (begin, end), the tensors tile [0, dataLength).
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let start = 0;
  for (const e of entries) {
    const at = `data_offsets [${e.begin}, ${e.end}]`;
    if (e.end < e.begin) fail('InvalidOffset', `${at}: end is before begin`, e.name);
    if (e.begin < start) fail('InvalidOffset', `${at} overlap the previous tensor, which ends at ${start}`, e.name);
    if (e.begin > start) fail('InvalidOffset', `${at} leave a gap of ${e.begin - start} bytes after byte ${start} (tensors must cover the data section contiguously)`, e.name);
    start = e.end;
    const elements = e.shape.reduce((a, b) => a * b, 1);
    const bits = elements * DTYPE_BITS[e.dtype];
    if (!Number.isSafeInteger(bits)) fail('ValidationOverflow', `shape [${e.shape.join(', ')}] of ${e.dtype} overflows`, e.name);
    if (bits % 8 !== 0) fail('MisalignedSlice', `shape [${e.shape.join(', ')}] of ${e.dtype} is not a whole number of bytes`, e.name);
    if (e.end - e.begin !== bits / 8) fail('TensorInvalidInfo', `${at} span ${e.end - e.begin} bytes, but shape [${e.shape.join(', ')}] of ${e.dtype} takes ${bits / 8}`, e.name);
    if (e.end > dataLength) fail('MetadataIncompleteBuffer', `${at} run past the end of the data section (${dataLength} bytes)`, e.name);
  }
  if (start !== dataLength) fail('MetadataIncompleteBuffer', `${dataLength - start} trailing bytes after the last tensor (the tensors cover ${start} of ${dataLength} data bytes)`);
  return { entries, metadata };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * The first key repeated within one object of `json` (valid JSON), with the key of that object
 * (undefined for the top level). `JSON.parse` keeps the last of duplicates silently.
 */
function firstDuplicateKey(json: string): { key: string; in?: string } | null {
  const stack: { keys: Set<string> | null; name?: string; expectKey: boolean }[] = [];
  let lastKey: string | undefined;
  for (let i = 0; i < json.length; i++) {
    const c = json[i];
    const top = stack[stack.length - 1];
    if (c === '"') {
      let j = i + 1;
      while (json[j] !== '"') j += json[j] === '\\' ? 2 : 1;
      if (top?.keys && top.expectKey) {
        const key = JSON.parse(json.slice(i, j + 1)) as string;
        if (top.keys.has(key)) return { key, in: top.name };
        top.keys.add(key);
        top.expectKey = false;
        lastKey = key;
      }
      i = j;
    } else if (c === '{' || c === '[') {
      stack.push({ keys: c === '{' ? new Set() : null, name: top?.keys ? lastKey : top?.name, expectKey: c === '{' });
    } else if (c === '}' || c === ']') {
      stack.pop();
    } else if (c === ',' && top?.keys) {
      top.expectKey = true;
    }
  }
  return null;
}

/** `length` bytes of `fd` from `position`. */
function readAt(fd: number, position: number, length: number): Buffer {
  const out = Buffer.alloc(length);
  readInto(fd, out, position);
  return out;
}

/** Fills `into` from `fd` at `position`. @throws Error when the file ends first */
function readInto(fd: number, into: Uint8Array, position: number): void {
  for (let off = 0; off < into.length; ) {
    const got = readSync(fd, into, off, Math.min(into.length - off, 1 << 30), position + off);
    if (got === 0) throw new Error(`unexpected end of file at byte ${position + off} (was the file truncated while being read?)`);
    off += got;
  }
}
