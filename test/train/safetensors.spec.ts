import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { defaultPython } from '../../src/util/paths.js';
import { encodeSafetensors, readSafetensors, SafetensorsError, type NamedTensor } from '../../src/train/safetensors.js';

const dir = mkdtempSync(join(tmpdir(), 'sparse-rl-safetensors-'));

/** Bytes of a safetensors file: the 8-byte length (`n`, default the header's byte length), the header, `data` bytes. */
function craft(header: string | object | Buffer, data: number | Uint8Array = 0, n?: bigint): Buffer {
  const h = Buffer.isBuffer(header) ? header : Buffer.from(typeof header === 'string' ? header : JSON.stringify(header), 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(n ?? BigInt(h.length));
  return Buffer.concat([len, h, typeof data === 'number' ? Buffer.alloc(data) : Buffer.from(data)]);
}
const f32 = (shape: number[], a: number, b: number) => ({ dtype: 'F32', shape, data_offsets: [a, b] });

/**
 * [case, file bytes, expected code, tensor named in the error, what the reference
 * (Python `safetensors`, i.e. the Rust `SafeTensors::deserialize`) does with the file].
 */
const corrupt: [string, Buffer, string, string | undefined, 'rejects' | 'accepts'][] = [
  ['empty file', Buffer.alloc(0), 'HeaderTooSmall', undefined, 'rejects'],
  ['5 bytes', Buffer.from([1, 0, 0, 0, 0]), 'HeaderTooSmall', undefined, 'rejects'],
  ['header length over 100,000,000', craft('{}', 0, 100_000_001n), 'HeaderTooLarge', undefined, 'rejects'],
  ['header length 2^64 - 1', craft('{}', 0, 2n ** 64n - 1n), 'HeaderTooLarge', undefined, 'rejects'],
  ['header length past the end of the file', craft('{}', 0, 64n), 'InvalidHeaderLength', undefined, 'rejects'],
  ['header not UTF-8', craft(Buffer.concat([Buffer.from('{"a'), Buffer.from([0xff, 0xfe]), Buffer.from('":1}')])), 'InvalidHeader', undefined, 'rejects'],
  ['header starting with a space', craft(' {}'), 'InvalidHeaderStart', undefined, 'accepts'],
  ['header is a JSON array', craft('[]'), 'InvalidHeaderStart', undefined, 'rejects'],
  ['header is not JSON', craft('{"w": '), 'InvalidHeaderDeserialization', undefined, 'rejects'],
  ['entry is not an object', craft({ w: 5 }), 'InvalidHeaderDeserialization', 'w', 'rejects'],
  ['entry without dtype', craft({ w: { shape: [1], data_offsets: [0, 4] } }, 4), 'InvalidHeaderDeserialization', 'w', 'rejects'],
  ['entry without shape', craft({ w: { dtype: 'F32', data_offsets: [0, 4] } }, 4), 'InvalidHeaderDeserialization', 'w', 'rejects'],
  ['entry without data_offsets', craft({ w: { dtype: 'F32', shape: [1] } }, 4), 'InvalidHeaderDeserialization', 'w', 'rejects'],
  ['dtype is a number', craft({ w: { dtype: 32, shape: [1], data_offsets: [0, 4] } }, 4), 'InvalidHeaderDeserialization', 'w', 'rejects'],
  ['unknown dtype', craft({ w: { dtype: 'F17', shape: [1], data_offsets: [0, 4] } }, 4), 'InvalidHeaderDeserialization', 'w', 'rejects'],
  ['negative dimension', craft({ w: f32([-1], 0, 4) }, 4), 'InvalidHeaderDeserialization', 'w', 'rejects'],
  ['fractional dimension', craft({ w: f32([1.5], 0, 4) }, 4), 'InvalidHeaderDeserialization', 'w', 'rejects'],
  ['shape is not a list', craft({ w: { dtype: 'F32', shape: 1, data_offsets: [0, 4] } }, 4), 'InvalidHeaderDeserialization', 'w', 'rejects'],
  ['three data_offsets', craft({ w: { dtype: 'F32', shape: [1], data_offsets: [0, 4, 8] } }, 4), 'InvalidHeaderDeserialization', 'w', 'rejects'],
  ['negative data_offsets', craft({ w: f32([1], -4, 0) }, 4), 'InvalidHeaderDeserialization', 'w', 'rejects'],
  ['__metadata__ value not a string', craft({ __metadata__: { step: 3 }, w: f32([1], 0, 4) }, 4), 'InvalidHeaderDeserialization', undefined, 'rejects'],
  ['__metadata__ is a list', craft({ __metadata__: ['a'], w: f32([1], 0, 4) }, 4), 'InvalidHeaderDeserialization', undefined, 'rejects'],
  ['a field twice in an entry', craft('{"w":{"dtype":"F32","dtype":"F32","shape":[1],"data_offsets":[0,4]}}', 4), 'DuplicateKey', 'w', 'rejects'],
  ['a tensor name twice', craft('{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', 4), 'DuplicateKey', undefined, 'accepts'],
  ['end before begin', craft({ w: f32([0], 4, 0) }, 4), 'InvalidOffset', 'w', 'rejects'],
  ['overlapping tensors', craft({ a: f32([2], 0, 8), b: f32([2], 4, 12) }, 12), 'InvalidOffset', 'b', 'rejects'],
  ['a gap between tensors', craft({ a: f32([1], 0, 4), b: f32([1], 8, 12) }, 12), 'InvalidOffset', 'b', 'rejects'],
  ['first tensor not at 0', craft({ a: f32([1], 4, 8) }, 8), 'InvalidOffset', 'a', 'rejects'],
  ['byte length != prod(shape) x dtype size', craft({ w: f32([3], 0, 8) }, 8), 'TensorInvalidInfo', 'w', 'rejects'],
  ['shape product overflows', craft({ w: f32([2 ** 40, 2 ** 40], 0, 4) }, 4), 'ValidationOverflow', 'w', 'rejects'],
  ['sub-byte dtype not filling whole bytes', craft({ w: { dtype: 'F4', shape: [3], data_offsets: [0, 1] } }, 1), 'MisalignedSlice', 'w', 'rejects'],
  ['data past the end of the file', craft({ w: f32([2], 0, 8) }, 4), 'MetadataIncompleteBuffer', 'w', 'rejects'],
  ['trailing bytes after the last tensor', craft({ w: f32([1], 0, 4) }, 8), 'MetadataIncompleteBuffer', undefined, 'rejects'],
  ['valid, but a dtype sparse-rl does not read (F16)', craft({ w: { dtype: 'F16', shape: [2], data_offsets: [0, 4] } }, 4), 'UnsupportedDtype', 'w', 'accepts'],
];
const files = corrupt.map(([, bytes], i) => {
  const file = join(dir, `corrupt-${String(i).padStart(2, '0')}.safetensors`);
  writeFileSync(file, bytes);
  return file;
});

describe('readSafetensors rejects malformed files, naming the file, the tensor and the rule', () => {
  it.each(corrupt.map((c, i) => [c[0], i] as const))('%s', (_name, i) => {
    const [, , code, tensor] = corrupt[i];
    let error: unknown;
    try {
      readSafetensors(files[i]);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(SafetensorsError);
    const e = error as SafetensorsError;
    expect(e.code).toBe(code);
    expect(e.file).toBe(files[i]);
    expect(e.message.startsWith(`${files[i]}: `)).toBe(true);
    expect(e.message).toContain(`(${code})`);
    expect(e.tensor).toBe(tensor);
    if (tensor) expect(e.message).toContain(`tensor "${tensor}"`);
  });

  it('a missing file is an error naming it', () => {
    expect(() => readSafetensors(join(dir, 'nope.safetensors'))).toThrow(join(dir, 'nope.safetensors'));
  });
});

/** Tensors exercising every layout the writer produces: F32 (with NaN, -0, a subarray view), U8, a scalar, an empty tensor. */
function sample(): Map<string, NamedTensor> {
  const backing = Float32Array.from([9, 1.5, -0, NaN, Infinity, -3.25e-7, 9]);
  return new Map<string, NamedTensor>([
    ['actor.l1.weight', { data: backing.subarray(1, 7), shape: [2, 3] }],
    ['actor.l1.mask', { data: Uint8Array.from([1, 0, 1, 1, 0, 0]), shape: [2, 3] }],
    ['scalar', { data: Float32Array.from([42]), shape: [] }],
    ['empty', { data: new Float32Array(0), shape: [0, 3] }],
    ['actor.l1.bias', { data: Float32Array.from([0.125, -8]), shape: [2] }],
  ]);
}

describe('round trip', () => {
  it('reads back what encodeSafetensors wrote: names in file order, dtypes, shapes, bits and metadata', () => {
    const file = join(dir, 'round-trip.safetensors');
    const tensors = sample();
    writeFileSync(file, encodeSafetensors(tensors, { format: 'sparse-rl-checkpoint-1', step: '600' }));
    const back = readSafetensors(file);
    expect(back.metadata).toEqual({ format: 'sparse-rl-checkpoint-1', step: '600' });
    expect([...back.tensors.keys()]).toEqual([...tensors.keys()]);
    for (const [name, t] of tensors) {
      const r = back.tensors.get(name)!;
      expect(r.data.constructor, name).toBe(t.data.constructor);
      expect(r.shape, name).toEqual(t.shape);
      expect(Buffer.from(r.data.buffer, r.data.byteOffset, r.data.byteLength).equals(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength)), name).toBe(true);
    }
  });

  it('accepts __metadata__: null and a file without tensors', () => {
    const file = join(dir, 'null-metadata.safetensors');
    writeFileSync(file, craft({ __metadata__: null, w: { dtype: 'U8', shape: [2], data_offsets: [0, 2] } }, Uint8Array.from([3, 4])));
    expect(readSafetensors(file).metadata).toEqual({});
    expect([...(readSafetensors(file).tensors.get('w')!.data as Uint8Array)]).toEqual([3, 4]);
    writeFileSync(file, craft('{}  '));
    expect(readSafetensors(file).tensors.size).toBe(0);
  });

  it('the writer refuses what it could not write validly', () => {
    expect(() => encodeSafetensors(new Map([['w', { data: new Float32Array(5), shape: [2, 3] }]]))).toThrow(/w has 5 elements, shape \[2, 3\] needs 6/);
    expect(() => encodeSafetensors(new Map([['__metadata__', { data: new Uint8Array(1), shape: [1] }]]))).toThrow(/__metadata__/);
    expect(() => encodeSafetensors(new Map(), { step: 3 as unknown as string })).toThrow(/metadata step must be a string/);
  });
});

const python = defaultPython();
const haveVenv = existsSync(python);
if (!haveVenv) console.warn(`[safetensors] skipping the Python cross-checks: no Python at ${python} (run \`npm run setup\`)`);

/** Runs `script` with the venv's Python; fails with its stderr. */
function py(script: string, ...args: string[]): string {
  const r = spawnSync(python, ['-c', script, ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`python failed (is the pinned safetensors of bridge-python/requirements.txt installed? run \`npm run setup\`):\n${r.stderr}`);
  return r.stdout;
}

describe.skipIf(!haveVenv)('against the reference implementation (Python safetensors)', () => {
  it('rejects every corrupt file the reference rejects (and the reference accepts only the ones marked so)', () => {
    const out = py(`
import json, sys
from safetensors import safe_open
res = []
for f in sys.argv[1:]:
    try:
        with safe_open(f, framework="numpy") as h:
            list(h.keys())
        res.append("accepts")
    except Exception as e:
        res.append("rejects")
print(json.dumps(res))
`, ...files);
    expect(Object.fromEntries(corrupt.map((c, i) => [c[0], JSON.parse(out)[i]]))).toEqual(Object.fromEntries(corrupt.map((c) => [c[0], c[4]])));
  });

  it('Python reads the files we write (safetensors.numpy.load_file), metadata included', () => {
    const file = join(dir, 'for-python.safetensors');
    writeFileSync(file, encodeSafetensors(sample(), { format: 'sparse-rl-checkpoint-1', step: '7' }));
    const out = JSON.parse(py(`
import json, sys, math
from safetensors import safe_open
from safetensors.numpy import load_file
t = load_file(sys.argv[1])
with safe_open(sys.argv[1], framework="numpy") as h:
    meta = h.metadata()
num = lambda x: x if math.isfinite(x) else repr(x)
print(json.dumps({"metadata": meta, "tensors": {k: [str(v.dtype), list(v.shape), [num(float(x)) for x in v.ravel()]] for k, v in t.items()}}))
`, file)) as { metadata: Record<string, string>; tensors: Record<string, [string, number[], (number | string)[]]> };
    expect(out.metadata).toEqual({ format: 'sparse-rl-checkpoint-1', step: '7' });
    const want: Record<string, [string, number[], (number | string)[]]> = {};
    for (const [name, t] of sample()) want[name] = [t.data instanceof Float32Array ? 'float32' : 'uint8', [...t.shape], [...t.data].map((x) => (Number.isFinite(x) ? x : Number.isNaN(x) ? 'nan' : x > 0 ? 'inf' : '-inf'))];
    expect(out.tensors).toEqual(want);
  });

  it('we read files Python writes (save_file orders tensors by dtype and name, not as given)', () => {
    const file = join(dir, 'from-python.safetensors');
    py(`
import sys, numpy as np
from safetensors.numpy import save_file
save_file({"z.weight": np.arange(6, dtype=np.float32).reshape(2, 3) / 4, "a.mask": np.array([[1, 0, 1], [0, 1, 1]], dtype=np.uint8), "b": np.zeros((0, 2), dtype=np.float32)}, sys.argv[1], metadata={"k": "v"})
`, file);
    const back = readSafetensors(file);
    expect(back.metadata).toEqual({ k: 'v' });
    expect([...back.tensors.get('z.weight')!.data]).toEqual([0, 0.25, 0.5, 0.75, 1, 1.25]);
    expect(back.tensors.get('z.weight')!.shape).toEqual([2, 3]);
    expect([...back.tensors.get('a.mask')!.data]).toEqual([1, 0, 1, 0, 1, 1]);
    expect(back.tensors.get('b')!.shape).toEqual([0, 2]);
  });
});
