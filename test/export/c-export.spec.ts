import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { benchCPolicy, compileCPolicy } from '../../src/export/c-runner.js';
import { cFloatLiteral, generateCPolicy, writeCPolicy } from '../../src/export/c-export.js';
import { formatSizeReport, layerStorage, sizeReport, type LayerStorage } from '../../src/export/layer-storage.js';
import { loadPolicy } from '../../src/export/policy-model.js';
import { defaultPython, packageRoot } from '../../src/util/paths.js';
import { uniformStream } from '../helpers/random.js';
import { makeLayer, makeModel, maxAbsDiff, type NamedModelCase, nmLayer, observations, randomMask, referenceForward, structuredModels } from './fixtures.js';

// ---- hand-built policies (builders in fixtures.ts) ----

/** The four policies of the brief, each with its expected storage kinds. */
function models(): NamedModelCase[] {
  const rand = uniformStream(7);
  return [
    ...structuredModels(rand, ['unstructured 90 %', 'N:M 2:4 and 1:4 (SAC-style head: offset, tanh squash)', 'block-circulant b = 4 (in/out not multiples of 4)']),
    {
      name: 'dense', kinds: ['dense', 'dense'],
      model: makeModel([makeLayer('actor.l1', 16, 11, 'relu', { kind: 'dense' }, rand, null), makeLayer('actor.l2', 3, 16, 'tanh', { kind: 'dense' }, rand, null)], 3),
    },
  ];
}

/** Exact bytes of a storage, from the format rules (independent of layer-storage.ts's own sums). */
function expectedBytes(s: LayerStorage): number {
  const { outFeatures: out, inFeatures: inF } = s;
  const idx = (max: number) => (max <= 0xffff ? 2 : 4);
  switch (s.kind) {
    case 'dense':
      return 4 * out * inF + 4 * out;
    case 'csr':
      return 4 * s.values.length + idx(inF - 1) * s.values.length + 4 * (out + 1) + 4 * out;
    case 'nm':
      return out * Math.ceil(inF / s.m) * s.n * (4 + 1) + 4 * out;
    case 'circulant':
      return s.blockIdx.length * (4 * s.blockSize + idx(s.outBlocks * s.inBlocks - 1)) + 4 * out;
  }
}

describe('layer storage', () => {
  it('chooses each layer\'s storage from its hint, verified on the weights, with exact byte counts', () => {
    for (const { name, model, kinds } of models()) {
      const storages = model.layers.map(layerStorage);
      expect(storages.map((s) => s.kind), name).toEqual(kinds);
      for (const s of storages) {
        expect(s.bytes, `${name} ${s.layer}`).toBe(expectedBytes(s));
        expect(s.bytes).toBe(s.weightBytes + s.indexBytes + s.biasBytes);
        expect(s.note, `${name} ${s.layer}`).toBeUndefined();
      }
    }
  });

  it('stores what the structure says: CSR entries, N:M slots and padding, circulant active blocks', () => {
    const [unstructured, nm, circ] = models();
    const csr = layerStorage(unstructured.model.layers[0]);
    if (csr.kind !== 'csr') throw new Error('expected csr');
    expect(csr.values.length).toBe(Math.round(0.1 * 64 * 24));
    expect(csr.colIdx).toBeInstanceOf(Uint16Array);
    expect(csr.rowPtr[64]).toBe(csr.values.length);
    const s24 = layerStorage(nm.model.layers[0]);
    if (s24.kind !== 'nm') throw new Error('expected nm');
    expect([s24.n, s24.m, s24.groups]).toEqual([2, 4, 5]);
    // the trailing group (input 16 only) keeps 1 weight: slot 1 is padding (value 0, index 0)
    for (let r = 0; r < 32; r++) expect([s24.values[(r * 5 + 4) * 2 + 1], s24.idx[(r * 5 + 4) * 2 + 1], s24.idx[(r * 5 + 4) * 2]]).toEqual([0, 0, 0]);
    const c1 = layerStorage(circ.model.layers[0]);
    const c2 = layerStorage(circ.model.layers[1]);
    if (c1.kind !== 'circulant' || c2.kind !== 'circulant') throw new Error('expected circulant');
    expect([c1.outBlocks, c1.inBlocks, c1.blockIdx.length]).toEqual([8, 5, 40]);
    expect([c2.outBlocks, c2.inBlocks, c2.blockIdx.length]).toEqual([6, 8, 24]);
    expect([...c2.blockIdx]).toEqual([...c2.blockIdx].sort((a, b) => a - b));
  });

  it('falls back to CSR when a hint does not hold, and to dense when CSR would be larger', () => {
    const rand = uniformStream(11);
    const notNm = makeLayer('actor.l1', 32, 32, 'relu', { kind: 'nm', n: 2, m: 4 }, rand, randomMask(32 * 32, 0.5, rand));
    const s1 = layerStorage(notNm);
    expect(s1.kind).toBe('csr');
    expect(s1.note).toMatch(/hint nm 2:4 does not hold: row \d+, group \d+ .* more than 2 non-zeros/);
    const notCirculant = makeLayer('actor.l2', 32, 30, 'relu', { kind: 'circulant', blockSize: 4 }, rand, randomMask(32 * 30, 0.1, rand));
    const s2 = layerStorage(notCirculant);
    expect(s2.kind).toBe('csr');
    expect(s2.note).toMatch(/hint circulant b=4 does not hold/);
    // an unmasked dense weight under a circulant hint: not circulant, and CSR of every entry is larger than dense
    const s3 = layerStorage(makeLayer('actor.l3', 8, 8, 'relu', { kind: 'circulant', blockSize: 4 }, rand, null));
    expect(s3.kind).toBe('dense');
    // a 70 %-dense unstructured mask: CSR (6 bytes per entry + row_ptr) would exceed dense (4 bytes per weight)
    const s4 = layerStorage(makeLayer('actor.l4', 16, 16, 'relu', { kind: 'unstructured' }, rand, randomMask(256, 0.7, rand)));
    expect(s4.kind).toBe('dense');
    expect(s4.note).toMatch(/hint unstructured holds, but dense is smaller/);
    // a dense-looking N:M layer with a wrong group size (m = 3 does not hold for a 2:4 mask)
    const nm = nmLayer('actor.l5', 8, 16, 2, 4, 'relu', rand);
    expect(layerStorage({ ...nm, structure: { kind: 'nm', n: 2, m: 3 } }).kind).toBe('csr');
  });

  it('a 90 %-sparse 256×256 layer\'s CSR takes ≤ 0.2× the dense bytes; uint32 column indices past 65536 inputs', () => {
    const rand = uniformStream(3);
    const s = layerStorage(makeLayer('actor.l2', 256, 256, 'relu', { kind: 'unstructured' }, rand, randomMask(256 * 256, 0.1, rand)));
    expect(s.kind).toBe('csr');
    const nnz = Math.round(0.1 * 256 * 256);
    expect(s.weightBytes + s.indexBytes).toBe(nnz * 6 + 257 * 4);
    expect((s.weightBytes + s.indexBytes) / (4 * 256 * 256)).toBeLessThanOrEqual(0.2);
    const wide = layerStorage(makeLayer('wide', 2, 70_000, 'linear', { kind: 'unstructured' }, rand, randomMask(140_000, 0.001, rand)));
    if (wide.kind !== 'csr') throw new Error('expected csr');
    expect(wide.colIdx).toBeInstanceOf(Uint32Array);
    expect(wide.bytes).toBe(expectedBytes(wide));
  });

  it('the size report totals weights, indices and biases against the dense float32 policy', () => {
    const { model } = models()[0];
    const report = sizeReport(model.layers);
    const sum = report.layers.reduce((a, r) => a + r.bytes, 0);
    expect(report.totalBytes).toBe(sum);
    expect(report.total.bytes).toBe(sum);
    expect(report.denseBytes).toBe(4 * (64 * 24 + 64 + 48 * 64 + 48 + 6 * 48 + 6));
    expect(report.layers[0]).toMatchObject({ layer: 'actor.l1', kind: 'csr', density: expect.closeTo(0.1, 3) });
    expect(report.total.sparsity).toBeCloseTo((64 * 24 - Math.round(0.1 * 64 * 24)) / (64 * 24 + 48 * 64 + 6 * 48), 12);
    expect(formatSizeReport(report)).toMatch(/actor\.l1\s+64x24\s+csr/);
  });

  it('rejects a masked-out weight that is not 0, naming the layer', () => {
    const rand = uniformStream(5);
    const l = makeLayer('actor.l9', 4, 4, 'relu', { kind: 'unstructured' }, rand, randomMask(16, 0.5, rand));
    const i = l.mask!.indexOf(0);
    l.weight[i] = 0.5;
    expect(() => layerStorage(l)).toThrow(/layer actor\.l9: weight \[\d, \d\] is masked out but not 0/);
  });
});

describe('C float literals', () => {
  it('round-trip every float32 exactly (9 significant digits), as valid C99 floating constants', () => {
    const rand = uniformStream(13);
    const values = [0, -0, 1, -1, 0.1, 1e-45, 1.17549435e-38, 3.40282347e38, 16777216, 123456789, 2 ** -126, -(2 ** -149)];
    for (let i = 0; i < 20_000; i++) values.push((rand() - 0.5) * 10 ** Math.floor(rand() * 60 - 30));
    for (const v of values.map(Math.fround)) {
      const lit = cFloatLiteral(v);
      expect(lit).toMatch(/^-?\d+(\.\d+)?(e[+-]\d+)?f$/);
      expect(lit).toMatch(/\.|e/);
      expect(Object.is(Math.fround(Number(lit.slice(0, -1))), v), `${v} → ${lit}`).toBe(true);
    }
    expect(() => cFloatLiteral(NaN, 'layer actor.l1 weight[3]')).toThrow(/layer actor\.l1 weight\[3\] is NaN/);
  });
});

const haveGcc = spawnSync('gcc', ['--version']).status === 0;
if (!haveGcc) console.warn('[c-export] skipping the compiled checks: no gcc on PATH');

describe.skipIf(!haveGcc)('C export compiled with gcc -O2', () => {
  let root = '';
  beforeAll(() => void (root = mkdtempSync(join(tmpdir(), 'sparse-rl-c-export-'))));
  const closers: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const c of closers) await c();
    rmSync(root, { recursive: true, force: true });
  });

  it.each(models().map((m) => [m.name, m] as const))('%s: actions equal the float64 reference within 1e-5 on 1000 random observations', async (_name, { name, model }) => {
    const dir = join(root, name.replace(/[^a-z0-9]+/gi, '-'));
    const { files, report } = writeCPolicy(model, dir);
    expect(files).toEqual([join(dir, 'policy.h'), join(dir, 'policy.c')]);
    expect(report.layers.map((l) => l.kind)).toEqual(models().find((m) => m.name === name)!.kinds);
    // C99, no warnings, no allocation, <math.h>/<stddef.h>/<stdint.h> only
    const policy = await compileCPolicy(dir, { cflags: ['-O2', '-Wall', '-Wextra', '-pedantic', '-Werror'] });
    closers.push(() => policy.close());
    expect([policy.observationSize, policy.actionSize]).toEqual([model.observationSize, model.actionSize]);
    const n = 1000;
    const obs = observations(model.observationSize, n, 17);
    const got = await policy.act(obs, n);
    expect(maxAbsDiff(got, referenceForward(model, obs, n))).toBeLessThan(1e-5);
    // a second call on the same process, one row
    const one = await policy.act(obs.subarray(0, model.observationSize), 1);
    expect([...one]).toEqual([...got.subarray(0, model.actionSize)]);
    const source = readFileSync(files[1], 'utf8');
    expect(source).not.toMatch(/malloc|calloc|free\(|#include <(?!math\.h|stddef\.h|stdint\.h)/);
  });

  it('a layer whose mask is all zeros (nnz = 0) exports, compiles warning-free and runs', async () => {
    const rand = uniformStream(19);
    const model = makeModel([
      makeLayer('actor.l1', 8, 5, 'relu', { kind: 'unstructured' }, rand, new Uint8Array(40)),
      makeLayer('actor.l2', 2, 8, 'tanh', { kind: 'unstructured' }, rand, randomMask(16, 0.25, rand)),
    ], 2);
    const dir = join(root, 'all-zero');
    const { report } = writeCPolicy(model, dir);
    expect(report.layers[0]).toMatchObject({ kind: 'csr', weightBytes: 0, indexBytes: 4 * 9 });
    const policy = await compileCPolicy(dir, { cflags: ['-O2', '-Wall', '-Wextra', '-pedantic', '-Werror'] });
    try {
      const obs = observations(5, 50, 3);
      expect(maxAbsDiff(await policy.act(obs, 50), referenceForward(model, obs, 50))).toBeLessThan(1e-5);
    } finally {
      await policy.close();
    }
  });

  it('writes the header: dims, entry point, a comment with source, env, sparsity and the size report', () => {
    const { model } = models()[1];
    const { header, source, report } = generateCPolicy(model);
    expect(header).toContain('#define POLICY_OBS_DIM 17');
    expect(header).toContain('#define POLICY_ACT_DIM 3');
    expect(header).toContain('void policy_act(const float *obs, float *action);');
    for (const text of [header, source]) {
      expect(text).toContain('runs/hand/checkpoints/step-1 (step 1)');
      expect(text).toContain('env:        Hand-v0');
      expect(text).toMatch(/sparsity: {3}\d+\.\d+ % of the weights are zero/);
      expect(text).toContain(`${report.totalBytes} bytes`);
      expect(text).toMatch(/actor\.l1\s+32x17\s+nm/);
    }
    expect(source).toContain('static const uint8_t policy_l0_nm_idx[320]');
    expect(source).toContain('static float policy_buf0[32];');
    expect(source).toContain('tanhf(policy_buf0[3 + i])');
  });

  it('names the compiler when it is missing', async () => {
    const dir = join(root, 'missing-cc');
    writeCPolicy(models()[3].model, dir);
    await expect(compileCPolicy(dir, { cc: 'no-such-cc-sparse-rl' })).rejects.toThrow(/C compiler "no-such-cc-sparse-rl" was not found.*install gcc/);
    await expect(compileCPolicy(join(root, 'nowhere'))).rejects.toThrow(/nowhere\/policy\.h does not exist/);
  });

  it('rejects observations of the wrong length', async () => {
    const dir = join(root, 'wrong-length');
    writeCPolicy(models()[3].model, dir);
    const policy = await compileCPolicy(dir);
    try {
      await expect(policy.act(new Float32Array(5), 1)).rejects.toThrow(/expected 1 × 11 = 11 observation floats, got 5/);
      expect((await policy.act(new Float32Array(0), 0)).length).toBe(0);
    } finally {
      await policy.close();
    }
  });

  it('benchCPolicy times policy_act (median of the repetitions)', async () => {
    const dir = join(root, 'bench');
    writeCPolicy(models()[0].model, dir);
    const { nsPerCall, samplesNs } = await benchCPolicy(dir, 2000, { repetitions: 3 });
    expect(nsPerCall).toBeGreaterThan(0);
    expect(Number.isFinite(nsPerCall)).toBe(true);
    expect(samplesNs).toHaveLength(3);
    expect(nsPerCall).toBe(samplesNs[1]);
  });
});

const cli = join(packageRoot(), 'dist', 'src', 'cli', 'main.js');
const haveRuns = haveGcc && existsSync(defaultPython()) && existsSync(cli);

/**
 * Real sparsifiers (needs `npx tsc -p .`, the venv and gcc): tiny TD3 runs on InvertedPendulum
 * whose actor is unstructured (static), 2:4 (nm) or block-circulant with pruned blocks (gst);
 * their hints verify on the trained weights, and the compiled C policy equals the run engine's
 * deterministic act.
 */
describe.skipIf(!haveRuns)('C export of trained runs (built CLI + real MuJoCo)', () => {
  let root = '';
  beforeAll(() => void (root = mkdtempSync(join(tmpdir(), 'sparse-rl-c-export-runs-'))));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  const sparsifiers = {
    static: { config: { type: 'static', actorSparsity: 0.8, criticSparsity: 0.8 }, kinds: ['dense', 'csr', 'dense'] },
    nm: { config: { type: 'nm', n: 2, m: 4, maskInterval: 50 }, kinds: ['nm', 'nm', 'nm'] },
    gst: { config: { type: 'gst', blockSize: 4, controller: 'linear-ramp', initialSparsity: 0.5, warmup: 0, pruneInterval: 50 }, kinds: ['circulant', 'circulant', 'circulant'] },
  } as const;

  it.each(Object.keys(sparsifiers) as (keyof typeof sparsifiers)[])('%s: storage from the verified hints; C actions equal the engine (1e-5)', async (type) => {
    const runDir = join(root, type);
    const configFile = join(root, `${type}.json`);
    writeFileSync(configFile, JSON.stringify({
      name: `c-export-${type}`, seed: 3, totalSteps: 300,
      environment: { type: 'gymnasium', id: 'InvertedPendulum-v5' },
      agent: { type: 'td3', learningStarts: 100, batchSize: 32, hiddenSizes: [30, 30] },
      sparsifier: sparsifiers[type].config,
      replayBuffer: { type: 'uniform', capacity: 10000 },
      evaluation: { interval: 300, episodes: 1 }, checkpoint: { interval: 300, keep: 1 }, output: { progress: 'lines' },
    }));
    execFileSync(process.execPath, [cli, 'train', configFile, '--run-dir', runDir], { encoding: 'utf8', stdio: 'pipe' });
    const loaded = await loadPolicy(runDir);
    try {
      const { report } = writeCPolicy(loaded.model, join(runDir, 'c'));
      expect(report.layers.map((l) => l.kind)).toEqual(sparsifiers[type].kinds);
      expect(report.layers.filter((l) => l.note?.includes('does not hold'))).toEqual([]);
      expect(report.totalBytes).toBeLessThan(report.denseBytes);
      const policy = await compileCPolicy(join(runDir, 'c'));
      try {
        const n = 1000;
        const obs = observations(loaded.model.observationSize, n, 31).map((v) => 1.5 * v);
        expect(maxAbsDiff(await policy.act(obs, n), loaded.act(obs, n))).toBeLessThan(1e-5);
      } finally {
        await policy.close();
      }
    } finally {
      await loaded.close();
    }
  });
});
