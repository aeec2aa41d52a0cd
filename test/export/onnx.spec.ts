import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadOnnxPolicy, readOnnxModelInfo, writeOnnxPolicy, ONNX_IR_VERSION, ONNX_OPSET, type SparseEncoding } from '../../src/export/onnx.js';
import { loadPolicy, type PolicyLayer, type PolicyModel } from '../../src/export/policy-model.js';
import type { Activation } from '../../src/nn/engine.js';
import { defaultPython, packageRoot } from '../../src/util/paths.js';
import { uniformStream } from '../helpers/random.js';
import { maxAbsDiff, observations, policyLayer, randomMask, referenceForward } from './fixtures.js';

/**
 * ONNX export (src/export/onnx.ts) against independent implementations: the ONNX checker
 * (`onnx.checker.check_model(full_check=True)`), Python onnxruntime and onnxruntime-node run the
 * file, and both must equal a float64 forward pass of the model (referenceForward, fixtures.ts; 1e-5) on 1000
 * random observations; metadata and the sparse weights (values and indices = the mask's
 * non-zeros) are read back with Python onnx. The last test exports a real trained run
 * (`sparse-rl train` of a tiny InvertedPendulum config; needs `npx tsc -p .` and the venv).
 */

const python = defaultPython();
const haveVenv = existsSync(python);
const dir = mkdtempSync(join(tmpdir(), 'sparse-rl-onnx-'));
const TOL = 1e-5;
const N = 1000;

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function py(script: string, ...args: string[]): string {
  const r = spawnSync(python, ['-c', script, ...args], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`python failed (are the pinned onnx and onnxruntime of bridge-python/requirements.txt installed? run \`npm run setup\`):\n${r.stderr}`);
  return r.stdout;
}

// ------------------------------------------------------------------------------------------
// Hand-built models

/** An `outF × inF` layer of uniform weights (±2/√inF) and biases (±0.3), then `sparsity` of the weights masked out at random. */
function layer(name: string, inF: number, outF: number, activation: Activation, sparsity: number, next: () => number): PolicyLayer {
  const weight = Float32Array.from({ length: outF * inF }, () => (next() * 2 - 1) / Math.sqrt(inF) * 2);
  const bias = Float32Array.from({ length: outF }, () => (next() * 2 - 1) * 0.3);
  // exactly round((1 - sparsity) · n) non-zeros at random positions
  const mask = sparsity > 0 ? randomMask(weight.length, 1 - sparsity, next) : null;
  return policyLayer(name, weight, bias, mask, activation, mask ? { kind: 'unstructured' } : { kind: 'dense' });
}

function policyModel(kind: 'sac' | 'td3' | 'offset', hidden = 8): PolicyModel {
  const next = uniformStream(kind === 'sac' ? 11 : kind === 'td3' ? 12 : 13);
  const obs = 5;
  const act = 2;
  const low = [-2, 0.5];
  const high = [1, 3];
  const layers =
    kind === 'td3'
      ? [layer('actor.l1', obs, hidden, 'relu', 0.8, next), layer('actor.l2', hidden, hidden, 'relu', 0.8, next), layer('actor.l3', hidden, act, 'tanh', 0.8, next)]
      : [layer('actor.l1', obs, hidden, 'relu', kind === 'sac' ? 0 : 0.8, next), layer('actor.l2', hidden, hidden, 'relu', 0.8, next), layer('actor.l3', hidden, 2 * act, 'linear', 0.8, next)];
  return {
    envId: `Test${kind}-v0`,
    observationSize: obs,
    actionSize: act,
    observationSpace: { type: 'box', shape: [obs], dtype: 'float64', low: Array(obs).fill(-1e308), high: Array(obs).fill(1e308) },
    actionSpace: { type: 'box', shape: [act], dtype: 'float32', low, high },
    layers,
    outputOffset: kind === 'offset' ? act : 0,
    squash: kind === 'td3' ? 'none' : 'tanh',
    actionLow: Float32Array.from(low),
    actionHigh: Float32Array.from(high),
    source: { runDir: `/runs/${kind}`, checkpoint: `/runs/${kind}/checkpoints/step-000000042`, step: 42, agent: kind === 'td3' ? 'td3' : 'sac', sparsifier: 'static', name: `onnx-${kind}` },
  };
}

/**
 * Python side: the ONNX checker (`full_check` unless asked not to), Python onnxruntime's actions
 * on the observations, the metadata, the dense and sparse weights as stored.
 */
const PY_INSPECT = `
import json, sys
import numpy as np
import onnx, onnxruntime as ort
from onnx import numpy_helper
path, obs_path, out_path, full = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == '1'
onnx.checker.check_model(path, full_check=full)
m = onnx.load(path)
obs_dim = m.graph.input[0].type.tensor_type.shape.dim[1].dim_value
obs = np.fromfile(obs_path, dtype='<f4').reshape(-1, obs_dim)
sess = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
(act,) = sess.run(['action'], {'observation': obs})
act.astype('<f4').tofile(out_path)
def sparse(sp, form, name):
    idx = numpy_helper.to_array(sp.indices)
    vals = numpy_helper.to_array(sp.values)
    dense = np.zeros(int(np.prod(sp.dims)), dtype=vals.dtype)
    dense[idx.reshape(-1)] = vals  # linearised indices [nnz]
    assert idx.ndim == 1 and (np.diff(idx) > 0).all(), 'indices must be ascending and unique'
    return {'name': name, 'form': form, 'dims': list(sp.dims), 'nnz': int(vals.size),
            'indices': idx.astype(int).tolist(), 'indexType': int(sp.indices.data_type), 'dense': dense.astype(float).ravel().tolist()}
sparse_list = [sparse(s, 'initializer', s.values.name) for s in m.graph.sparse_initializer]
for n in m.graph.node:
    for a in n.attribute:
        if n.op_type == 'Constant' and a.name == 'sparse_value':
            sparse_list.append(sparse(a.sparse_tensor, 'constant', n.output[0]))
print(json.dumps({
    'irVersion': m.ir_version,
    'opsets': {o.domain: o.version for o in m.opset_import},
    'producer': m.producer_name,
    'metadata': {p.key: p.value for p in m.metadata_props},
    'input': [[d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in m.graph.input],
    'output': [[d.dim_param or d.dim_value for d in o.type.tensor_type.shape.dim] for o in m.graph.output],
    'ops': [n.op_type for n in m.graph.node],
    'dense': {t.name: numpy_helper.to_array(t).astype(float).ravel().tolist() for t in m.graph.initializer},
    'sparse': sparse_list,
    'ortInputs': [[i.name, i.shape] for i in sess.get_inputs()],
}))
`;

interface PyReport {
  irVersion: number;
  opsets: Record<string, number>;
  producer: string;
  metadata: Record<string, string>;
  input: (number | string)[][];
  output: (number | string)[][];
  ops: string[];
  dense: Record<string, number[]>;
  sparse: { name: string; form: SparseEncoding; dims: number[]; nnz: number; indices: number[]; indexType: number; dense: number[] }[];
  actions: Float32Array;
}

function inspect(file: string, obs: Float32Array, fullCheck = true): PyReport {
  const obsFile = `${file}.obs.bin`;
  const outFile = `${file}.act.bin`;
  writeFileSync(obsFile, Buffer.from(obs.buffer, obs.byteOffset, obs.byteLength));
  const report = JSON.parse(py(PY_INSPECT, file, obsFile, outFile, fullCheck ? '1' : '0')) as PyReport;
  const raw = readFileSync(outFile);
  report.actions = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
  return report;
}

// ------------------------------------------------------------------------------------------

const cases: { kind: 'sac' | 'td3' | 'offset'; encoding: SparseEncoding | 'dense' }[] = [
  { kind: 'sac', encoding: 'constant' },
  { kind: 'td3', encoding: 'constant' },
  { kind: 'offset', encoding: 'constant' },
  { kind: 'sac', encoding: 'initializer' },
  { kind: 'td3', encoding: 'initializer' },
  { kind: 'td3', encoding: 'dense' },
];

describe.skipIf(!haveVenv)('ONNX export of hand-built policies (onnx checker, Python onnxruntime, onnxruntime-node)', () => {
  for (const { kind, encoding } of cases) {
    it(`${kind} policy, weights ${encoding === 'dense' ? 'dense' : `sparse (${encoding})`}: valid ONNX, both runtimes equal the float64 reference`, async () => {
      const model = policyModel(kind);
      const file = join(dir, `${kind}-${encoding}.onnx`);
      const result = writeOnnxPolicy(model, file, encoding === 'dense' ? { sparseInitializers: false } : { sparseEncoding: encoding });
      expect(result.bytes).toBe(readFileSync(file).length);
      expect(result.sparseInitializers).toBe(encoding !== 'dense');
      expect(result.sparseEncoding).toBe(encoding === 'dense' ? 'none' : encoding);

      const obs = observations(model.observationSize, N, 100 + cases.findIndex((c) => c.kind === kind && c.encoding === encoding), 3);
      const ref = referenceForward(model, obs, N);
      // (a) the checker, with full_check (type and shape inference) except for graph sparse
      // initializers, which onnx's type inference types as sparse tensors (see SparseEncoding)
      const report = inspect(file, obs, encoding !== 'initializer');
      expect(report.irVersion).toBe(ONNX_IR_VERSION);
      expect(report.opsets['']).toBe(ONNX_OPSET);
      expect(report.producer).toBe('sparse-rl');
      expect(report.input).toEqual([['batch', model.observationSize]]);
      expect(report.output).toEqual([['batch', model.actionSize]]);
      expect(report.ops.includes('Slice')).toBe(kind !== 'td3');
      expect(report.ops.filter((o) => o === 'Tanh').length).toBe(1); // td3: the output layer's; sac: the squash

      // (b, c) Python onnxruntime and onnxruntime-node against the float64 reference
      expect(maxAbsDiff(report.actions, ref)).toBeLessThan(TOL);
      const policy = await loadOnnxPolicy(file);
      try {
        expect(policy.observationSize).toBe(model.observationSize);
        expect(policy.actionSize).toBe(model.actionSize);
        const actions = await policy.act(obs, N);
        expect(actions.length).toBe(N * model.actionSize);
        expect(maxAbsDiff(actions, ref)).toBeLessThan(TOL);
        expect(maxAbsDiff(actions, report.actions)).toBeLessThan(TOL);
        // actions stay inside the bounds
        for (let i = 0; i < actions.length; i++) {
          const j = i % model.actionSize;
          expect(actions[i]).toBeGreaterThanOrEqual(model.actionLow[j] - 1e-6);
          expect(actions[i]).toBeLessThanOrEqual(model.actionHigh[j] + 1e-6);
        }
        // one row at a time gives the same as the batch
        expect(maxAbsDiff(await policy.act(obs.subarray(0, model.observationSize), 1), actions.subarray(0, model.actionSize))).toBe(0);
        // (d) metadata round trip: the Node loader and Python onnx read the same props
        expect(policy.metadata).toEqual(report.metadata);
      } finally {
        await policy.close();
      }
      const md = report.metadata;
      expect(md.producer).toBe('sparse-rl');
      expect(md.env_id).toBe(model.envId);
      expect(JSON.parse(md.observation_space)).toEqual(model.observationSpace);
      expect(JSON.parse(md.action_space)).toEqual(model.actionSpace);
      expect(md.squash).toBe(model.squash);
      expect(Number(md.output_offset)).toBe(model.outputOffset);
      expect([md.source_run_dir, md.source_checkpoint, Number(md.source_step), md.source_agent, md.source_sparsifier, md.source_name]).toEqual([
        model.source.runDir, model.source.checkpoint, model.source.step, model.source.agent, model.source.sparsifier, model.source.name,
      ]);
      const active = model.layers.reduce((a, l) => a + l.activeWeights, 0);
      expect(Number(md.active_weights)).toBe(active);
      expect(Number(md.total_weights)).toBe(model.layers.reduce((a, l) => a + l.weight.length, 0));
      expect(md.sparse_encoding).toBe(encoding === 'dense' ? 'none' : encoding);
      const sparsity = JSON.parse(md.sparsity) as Record<string, number>;
      const layersMd = JSON.parse(md.layers) as { name: string; activeWeights: number; sparsity: number; storage: string; activation: string; structure: unknown }[];
      for (const [k, l] of model.layers.entries()) {
        expect(sparsity[l.name]).toBeCloseTo(1 - l.activeWeights / l.weight.length, 12);
        expect(layersMd[k]).toMatchObject({ name: l.name, activeWeights: l.activeWeights, activation: l.activation, structure: l.structure, storage: encoding !== 'dense' && l.mask ? 'sparse' : 'dense' });
      }
      if (kind === 'td3') expect(sparsity['actor.l2']).toBeCloseTo(1 - 13 / 64, 12); // round(0.2 · 64) = 13 kept

      // (e) sparse weights: one per masked layer, nnz = the mask's non-zeros, indices = their
      // linearised positions, values = the weights there; dense weights exactly the model's
      const masked = model.layers.filter((l) => l.mask);
      const stored = encoding === 'dense' ? [] : masked;
      expect(report.sparse.map((s) => s.name)).toEqual(stored.map((l) => `${l.name}.weight`));
      const info = readOnnxModelInfo(file);
      expect(info.sparseInitializers.map((s) => [s.name, s.nnz, s.form, s.dims])).toEqual(report.sparse.map((s) => [s.name, s.nnz, s.form, s.dims]));
      for (const l of stored) {
        const s = report.sparse.find((x) => x.name === `${l.name}.weight`)!;
        const nz = [...l.mask!.keys()].filter((i) => l.mask![i]);
        expect(s.form).toBe(encoding);
        expect(s.dims).toEqual([l.outFeatures, l.inFeatures]);
        expect(s.nnz).toBe(l.activeWeights);
        expect(s.nnz).toBe(nz.length);
        expect(s.indexType).toBe(7); // INT64
        expect(s.indices).toEqual(nz);
        expect(s.dense).toEqual(Array.from(l.weight));
      }
      for (const l of model.layers) {
        if (!stored.includes(l)) expect(report.dense[`${l.name}.weight`]).toEqual(Array.from(l.weight));
        expect(report.dense[`${l.name}.bias`]).toEqual(Array.from(l.bias));
      }
    });
  }

  it('sparse storage (values + int64 indices, 12 bytes a non-zero) is smaller than dense at 80 % sparsity', () => {
    const model = policyModel('td3', 64);
    for (const encoding of ['constant', 'initializer'] as const) {
      const sparse = writeOnnxPolicy(model, join(dir, `size-${encoding}.onnx`), { sparseEncoding: encoding }).bytes;
      const dense = writeOnnxPolicy(model, join(dir, 'size-dense.onnx'), { sparseInitializers: false }).bytes;
      expect(sparse).toBeLessThan(0.75 * dense);
    }
  });

  it('a layer whose mask is all zeros exports and runs in both forms', async () => {
    const model = policyModel('td3');
    const l2 = model.layers[1];
    const empty: PolicyLayer = { ...l2, weight: new Float32Array(l2.weight.length), mask: new Uint8Array(l2.weight.length), activeWeights: 0 };
    const m: PolicyModel = { ...model, layers: [model.layers[0], empty, model.layers[2]] };
    const obs = observations(m.observationSize, 50, 7, 3);
    for (const encoding of ['constant', 'initializer'] as const) {
      const file = join(dir, `empty-${encoding}.onnx`);
      writeOnnxPolicy(m, file, { sparseEncoding: encoding });
      const report = inspect(file, obs, encoding === 'constant');
      expect(report.sparse.find((s) => s.name === 'actor.l2.weight')!.nnz).toBe(0);
      expect(maxAbsDiff(report.actions, referenceForward(m, obs, 50))).toBeLessThan(TOL);
      const p = await loadOnnxPolicy(file);
      expect(maxAbsDiff(await p.act(obs, 50), referenceForward(m, obs, 50))).toBeLessThan(TOL);
      await p.close();
    }
  });
});

describe('ONNX export errors name the file and the layer', () => {
  const file = join(dir, 'bad.onnx');
  it('rejects inconsistent models', () => {
    const model = policyModel('td3');
    const l2 = model.layers[1];
    expect(() => writeOnnxPolicy({ ...model, layers: [model.layers[0], { ...l2, inFeatures: 7 }, model.layers[2]] }, file)).toThrow(
      `ONNX export to ${file}: layer actor.l2 takes 7 inputs but the previous layer (or the observation) gives 8`,
    );
    const w = Float32Array.from(l2.weight);
    const masked = l2.mask!.findIndex((v) => v === 0);
    w[masked] = 0.5;
    expect(() => writeOnnxPolicy({ ...model, layers: [model.layers[0], { ...l2, weight: w }, model.layers[2]] }, file)).toThrow(
      `ONNX export to ${file}: layer actor.l2: weight[${masked}] = 0.5 is masked but not 0`,
    );
    expect(() => writeOnnxPolicy({ ...model, outputOffset: 1 }, file)).toThrow(`ONNX export to ${file}: output slice [1, 3) is outside the last layer's 2 outputs`);
    expect(() => writeOnnxPolicy({ ...model, actionHigh: Float32Array.from([1, Infinity]) }, file)).toThrow('action bounds must be finite');
    expect(() => writeOnnxPolicy(model, join(dir, 'no-such-dir', 'x.onnx'))).toThrow(`cannot write ${join(dir, 'no-such-dir', 'x.onnx')}`);
  });

  it('the loader rejects a file that is not ONNX and a wrong observation count', async () => {
    const junk = join(dir, 'junk.onnx');
    writeFileSync(junk, 'this is not protobuf \u00ff\u00ff\u00ff');
    await expect(loadOnnxPolicy(junk)).rejects.toThrow(junk);
    await expect(loadOnnxPolicy(join(dir, 'missing.onnx'))).rejects.toThrow(`cannot read ONNX model ${join(dir, 'missing.onnx')}`);
    const good = join(dir, 'good.onnx');
    writeOnnxPolicy(policyModel('sac'), good);
    const p = await loadOnnxPolicy(good);
    await expect(p.act(new Float32Array(7), 1)).rejects.toThrow(`ONNX policy ${good}: expected 1 × 5 observations, got 7 values`);
    expect((await p.act(new Float32Array(0), 0)).length).toBe(0);
    await p.close();
    await expect(p.act(new Float32Array(5), 1)).rejects.toThrow(`ONNX policy ${good} is closed`);
  });
});

// ------------------------------------------------------------------------------------------
// A real run: train a tiny config with the built CLI, export its policy, compare with the engine

const cli = join(packageRoot(), 'dist', 'src', 'cli', 'main.js');

describe.skipIf(!haveVenv || !existsSync(cli))('ONNX export of a trained run (built CLI + real MuJoCo)', () => {
  it('the exported sparse TD3 policy equals the run engine’s deterministic act (1e-5) in both runtimes', async () => {
    const runDir = join(dir, 'run');
    const config = {
      name: 'onnx-e2e',
      seed: 3,
      totalSteps: 300,
      environment: { type: 'gymnasium', id: 'InvertedPendulum-v5' },
      agent: { type: 'td3', learningStarts: 100, batchSize: 32, hiddenSizes: [32, 32] },
      sparsifier: { type: 'static', actorSparsity: 0.8, criticSparsity: 0.8 },
      replayBuffer: { type: 'uniform', capacity: 10000 },
      evaluation: { interval: 300, episodes: 1 },
      checkpoint: { interval: 300, keep: 1 },
      output: { progress: 'lines' },
    };
    const configFile = join(dir, 'config.json');
    writeFileSync(configFile, JSON.stringify(config));
    execFileSync(process.execPath, [cli, 'train', configFile, '--run-dir', runDir], { encoding: 'utf8', stdio: 'pipe' });

    const loaded = await loadPolicy(runDir);
    try {
      const model = loaded.model;
      expect(model.layers.some((l) => l.mask)).toBe(true);
      const file = join(dir, 'run-policy.onnx');
      expect(writeOnnxPolicy(model, file).sparseInitializers).toBe(true);
      const obs = observations(model.observationSize, N, 5, 1);
      const engine = loaded.act(obs, N);
      const report = inspect(file, obs);
      expect(maxAbsDiff(report.actions, engine)).toBeLessThan(TOL);
      expect(maxAbsDiff(report.actions, referenceForward(model, obs, N))).toBeLessThan(TOL);
      const policy = await loadOnnxPolicy(file);
      try {
        expect(maxAbsDiff(await policy.act(obs, N), engine)).toBeLessThan(TOL);
        expect(policy.metadata).toMatchObject({ env_id: 'InvertedPendulum-v5', source_run_dir: model.source.runDir, source_step: '300', source_agent: 'td3', source_sparsifier: 'static' });
      } finally {
        await policy.close();
      }
      for (const l of model.layers.filter((x) => x.mask)) {
        expect(report.sparse.find((s) => s.name === `${l.name}.weight`)!.nnz).toBe(l.activeWeights);
      }
    } finally {
      await loaded.close();
    }
  });
});
