import { readFileSync } from 'node:fs';

/**
 * Minimal reader/writer of the safetensors format (huggingface/safetensors): an 8-byte
 * little-endian header length, a JSON header `{name: {dtype, shape, data_offsets}}` plus
 * `__metadata__` (string → string), then the raw little-endian tensor bytes. Python reads it with
 * `safetensors.numpy.load_file` or plain numpy. Only the dtypes used by checkpoints are supported.
 */
export interface NamedTensor {
  readonly data: Float32Array | Uint8Array;
  readonly shape: readonly number[];
}

const DTYPES = { F32: 4, U8: 1 } as const;

/** Encodes tensors (in insertion order) and string metadata to safetensors bytes. */
export function encodeSafetensors(tensors: ReadonlyMap<string, NamedTensor>, metadata: Record<string, string> = {}): Buffer {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const [name, t] of tensors) {
    const bytes = t.data.byteLength;
    header[name] = { dtype: t.data instanceof Float32Array ? 'F32' : 'U8', shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8); // align data to 8 bytes
  const headerBytes = Buffer.from(json, 'utf8');
  const out = Buffer.alloc(8 + headerBytes.length + offset);
  out.writeBigUInt64LE(BigInt(headerBytes.length), 0);
  headerBytes.copy(out, 8);
  let pos = 8 + headerBytes.length;
  for (const t of tensors.values()) {
    Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).copy(out, pos);
    pos += t.data.byteLength;
  }
  return out;
}

/**
 * Reads a safetensors file.
 * @throws Error naming the file on a malformed header or an unsupported dtype
 */
export function readSafetensors(file: string): { tensors: Map<string, NamedTensor>; metadata: Record<string, string> } {
  const buf = readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  let header: Record<string, { dtype: keyof typeof DTYPES; shape: number[]; data_offsets: [number, number] }>;
  try {
    header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
  } catch (e) {
    throw new Error(`${file}: malformed safetensors header (${(e as Error).message})`);
  }
  const base = 8 + n;
  const tensors = new Map<string, NamedTensor>();
  let metadata: Record<string, string> = {};
  for (const [name, h] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = h as unknown as Record<string, string>;
      continue;
    }
    const [a, b] = h.data_offsets;
    const bytes = buf.subarray(base + a, base + b);
    const copy = new Uint8Array(bytes); // aligned copy
    if (h.dtype === 'F32') tensors.set(name, { data: new Float32Array(copy.buffer), shape: h.shape });
    else if (h.dtype === 'U8') tensors.set(name, { data: copy, shape: h.shape });
    else throw new Error(`${file}: tensor ${name} has unsupported dtype ${h.dtype}`);
  }
  return { tensors, metadata };
}
