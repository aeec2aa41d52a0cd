import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { layerStorage } from '../../src/export/layer-storage.js';
import { readSparsePolicy, SPARSE_POLICY_FORMAT, writeSparsePolicy } from '../../src/export/sparse-safetensors.js';
import { writeSafetensors } from '../../src/train/safetensors.js';
import { defaultPython } from '../../src/util/paths.js';
import { uniformStream } from '../helpers/random.js';
import { makeLayer, makeModel, maxAbsDiff, type NamedModelCase, observations, randomMask, referenceForward, structuredModels } from './fixtures.js';

// ---- hand-built policies (builders in fixtures.ts) ----

/** Every storage kind: unstructured 90 % (CSR), 2:4 and 1:4 N:M, block-circulant b = 4, dense; plus a wrong hint. */
function models(): NamedModelCase[] {
  const rand = uniformStream(23);
  return [
    ...structuredModels(rand, ['unstructured', 'nm', 'circulant']),
    {
      name: 'wrong hint', kinds: ['csr', 'dense'],
      model: makeModel([makeLayer('actor.l1', 20, 12, 'relu', { kind: 'nm', n: 2, m: 4 }, rand, randomMask(240, 0.5, rand)), makeLayer('actor.l2', 2, 20, 'tanh', { kind: 'dense' }, rand, null)], 2),
    },
  ];
}

let dir = '';
beforeAll(() => void (dir = mkdtempSync(join(tmpdir(), 'sparse-rl-sparse-safetensors-'))));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const fileOf = (name: string) => join(dir, `${name.replace(/\W+/g, '-')}.sparse.safetensors`);

describe('sparse-rl-sparse-policy-1', () => {
  it.each(models().map((m) => [m.name, m] as const))('%s: the TS reader gives back the identical model', (_name, { name, model, kinds }) => {
    const file = fileOf(name);
    const bytes = writeSparsePolicy(model, file);
    expect(bytes).toBe(statSync(file).size);
    const back = readSparsePolicy(file);
    expect(back.layers.map((l) => l.name)).toEqual(model.layers.map((l) => l.name));
    model.layers.forEach((l, k) => {
      const b = back.layers[k];
      expect(Buffer.from(b.weight.buffer).equals(Buffer.from(l.weight.buffer)), `${l.name} weight bit for bit`).toBe(true);
      expect(Buffer.from(b.bias.buffer).equals(Buffer.from(l.bias.buffer)), `${l.name} bias`).toBe(true);
      expect(b.mask ? [...b.mask] : null, `${l.name} mask`).toEqual(l.mask ? [...l.mask] : null);
      expect({ ...b, weight: 0, bias: 0, mask: 0 }).toEqual({ ...l, weight: 0, bias: 0, mask: 0 });
    });
    const { layers: _l, actionLow, actionHigh, ...rest } = back;
    const { layers: _m, actionLow: low, actionHigh: high, ...want } = model;
    expect(rest).toEqual(want);
    expect([...actionLow, ...actionHigh]).toEqual([...low, ...high]);
    // the data section is exactly the chosen storages plus the action bounds
    const storages = model.layers.map(layerStorage);
    expect(storages.map((s) => s.kind)).toEqual(kinds);
    const headerLength = Number(readFileSync(file).readBigUInt64LE(0));
    expect(bytes - 8 - headerLength).toBe(storages.reduce((a, s) => a + s.bytes, 0) + 8 * model.actionSize);
  });

  it('names the tensors and metadata as documented', () => {
    const file = fileOf('nm');
    const buf = readFileSync(file);
    const header = JSON.parse(buf.subarray(8, 8 + Number(buf.readBigUInt64LE(0))).toString()) as Record<string, { dtype: string; shape: number[] }> & { __metadata__: Record<string, string> };
    const { __metadata__: meta, ...tensors } = header;
    expect(Object.fromEntries(Object.entries(tensors).map(([k, v]) => [k, `${v.dtype}[${v.shape.join(',')}]`]))).toEqual({
      'actor.l1.nm_values': 'F32[32,5,2]', 'actor.l1.nm_idx': 'U8[32,5,2]', 'actor.l1.bias': 'F32[32]',
      'actor.l2.nm_values': 'F32[30,8,1]', 'actor.l2.nm_idx': 'U8[30,8,1]', 'actor.l2.bias': 'F32[30]',
      'actor.l3.weight': 'F32[6,30]', 'actor.l3.bias': 'F32[6]', action_low: 'F32[3]', action_high: 'F32[3]',
    });
    expect(meta).toMatchObject({ format: SPARSE_POLICY_FORMAT, env_id: 'Hand-v0', squash: 'tanh', output_offset: '3', observation_size: '17', action_size: '3' });
    expect(JSON.parse(meta.layers)[0]).toEqual({ name: 'actor.l1', kind: 'nm', out: 32, in: 17, activation: 'relu', structure: { kind: 'nm', n: 2, m: 4 }, masked: true, n: 2, m: 4, groups: 5 });
    const circ = readFileSync(fileOf('circulant'));
    const ch = JSON.parse(circ.subarray(8, 8 + Number(circ.readBigUInt64LE(0))).toString()) as Record<string, { dtype: string; shape: number[] }>;
    expect(ch['actor.l1.block_idx']).toMatchObject({ dtype: 'U16', shape: [40] });
    expect(ch['actor.l1.vectors']).toMatchObject({ dtype: 'F32', shape: [40, 4] });
    const csr = readFileSync(fileOf('unstructured'));
    const uh = JSON.parse(csr.subarray(8, 8 + Number(csr.readBigUInt64LE(0))).toString()) as Record<string, { dtype: string; shape: number[] }>;
    expect([uh['actor.l1.row_ptr'], uh['actor.l1.col_idx'], uh['actor.l1.values']].map((t) => `${t.dtype}[${t.shape}]`)).toEqual(['U32[65]', `U16[${Math.round(0.1 * 64 * 24)}]`, `F32[${Math.round(0.1 * 64 * 24)}]`]);
  });

  it('rejects other files, naming the file and what is wrong', () => {
    const plain = join(dir, 'plain.safetensors');
    writeSafetensors(plain, new Map([['w', { data: new Float32Array(2), shape: [2] }]]), { format: 'sparse-rl-checkpoint-1' });
    expect(() => readSparsePolicy(plain)).toThrow(`${plain}: __metadata__.format is "sparse-rl-checkpoint-1", not ${SPARSE_POLICY_FORMAT}`);
    const good = readFileSync(fileOf('wrong hint'));
    const truncated = join(dir, 'truncated.safetensors');
    writeFileSync(truncated, good.subarray(0, good.length - 10));
    expect(() => readSparsePolicy(truncated)).toThrow(new RegExp(`^${truncated}: tensor \\S+: data_offsets .* run past the end of the data section .*\\(MetadataIncompleteBuffer\\)`));
    const garbage = join(dir, 'garbage.safetensors');
    writeFileSync(garbage, Buffer.from('not a safetensors file at all'));
    expect(() => readSparsePolicy(garbage)).toThrow(`${garbage}: header length`);
    // a missing tensor: rename actor.l2.bias in the header (same length, so the offsets still hold)
    const renamed = join(dir, 'renamed.safetensors');
    const headerLength = Number(good.readBigUInt64LE(0));
    const header = good.subarray(8, 8 + headerLength).toString().replace('"actor.l2.bias"', '"actor.l2.bia_"');
    writeFileSync(renamed, Buffer.concat([good.subarray(0, 8), Buffer.from(header), good.subarray(8 + headerLength)]));
    expect(() => readSparsePolicy(renamed)).toThrow(`${renamed}: tensor actor.l2.bias is missing`);
  });

  it('refuses reserved and duplicate layer names', () => {
    const { model } = models()[3];
    expect(() => writeSparsePolicy({ ...model, layers: [model.layers[0], { ...model.layers[1], name: 'action_low' }] }, join(dir, 'x'))).toThrow(/layer name "action_low" is reserved/);
    expect(() => writeSparsePolicy({ ...model, layers: [model.layers[0], { ...model.layers[1], name: 'actor.l1' }] }, join(dir, 'x'))).toThrow(/two layers are named actor\.l1/);
  });
});

const python = defaultPython();
const haveVenv = existsSync(python);
if (!haveVenv) console.warn(`[sparse-safetensors] skipping the Python reader checks: no Python at ${python} (run \`npm run setup\`)`);

describe.skipIf(!haveVenv)('the Python/NumPy reader (python -m sparse_rl_bridge.sparse_policy)', () => {
  it.each(models().map((m) => [m.name, m] as const))('%s: same dense weights, and the same forward output within 1e-5', (_name, { name, model }) => {
    const file = fileOf(name);
    writeSparsePolicy(model, file);
    const n = 200;
    const obs = observations(model.observationSize, n, 29);
    const obsFile = join(dir, `${name.replace(/\W+/g, '-')}.obs.f32`);
    writeFileSync(obsFile, obs);
    const r = spawnSync(python, ['-c', `
import json, sys
import numpy as np
from sparse_rl_bridge.sparse_policy import load_sparse_policy
from safetensors.numpy import load_file
load_file(sys.argv[1])  # the reference implementation accepts the file
p = load_sparse_policy(sys.argv[1])
obs = np.fromfile(sys.argv[2], dtype="<f4").reshape(-1, int(p.metadata["observation_size"]))
print(json.dumps({"weights": [[float(v) for v in l["weight"].ravel()] for l in p.layers], "kinds": [l["kind"] for l in p.layers], "actions": [float(v) for v in p.act(obs).ravel()]}))
`, file, obsFile], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`python failed:\n${r.stderr}`);
    const out = JSON.parse(r.stdout) as { weights: number[][]; kinds: string[]; actions: number[] };
    expect(out.kinds).toEqual(model.layers.map((l) => layerStorage(l).kind));
    out.weights.forEach((w, k) => expect(w, model.layers[k].name).toEqual([...model.layers[k].weight]));
    expect(maxAbsDiff(out.actions, referenceForward(model, obs, n))).toBeLessThan(1e-5);
  });

  it('runs as a script, printing the layers', () => {
    const r = spawnSync(python, ['-m', 'sparse_rl_bridge.sparse_policy', fileOf('circulant'), '--obs', new Array(17).fill('0.5').join(',')], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain(`${SPARSE_POLICY_FORMAT}, env Hand-v0, obs 17 -> action 5`);
    expect(r.stdout).toMatch(/actor\.l1: 30x17 circulant b=4, relu/);
    expect(r.stdout).toMatch(/actor\.l3: 5x22 dense, tanh/);
    expect(r.stdout).toMatch(/^action: (\S+ ){4}\S+$/m);
    const bad = spawnSync(python, ['-m', 'sparse_rl_bridge.sparse_policy', join(dir, 'plain.safetensors')], { encoding: 'utf8' });
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toMatch(/plain\.safetensors: __metadata__\.format is 'sparse-rl-checkpoint-1'/);
  });
});
