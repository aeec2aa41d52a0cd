import { statSync } from 'node:fs';
import { readSafetensors, writeSafetensors, type NamedTensor } from '../train/safetensors.js';
import type { Activation } from '../nn/engine.js';
import type { BoxSpace, Space } from '../core/environment.js';
import { blockCount, circulantLayout, expandBlockMask } from '../sparse/block-circulant.js';
import { checkPolicyModel, denseWeightOf, modelStorage, type IndexArray, type LayerStorage, type LayerWeights, type StorageKind } from './layer-storage.js';
import type { LayerStructureHint, PolicyLayer, PolicyModel } from './policy-model.js';

/**
 * # sparse-rl-sparse-policy-1: the compressed checkpoint of a deterministic policy
 *
 * A safetensors file (huggingface/safetensors: 8-byte little-endian header length, JSON header,
 * raw little-endian row-major tensor bytes) whose tensors are each layer's storage as
 * `layer-storage.ts` chooses it, so it is as small as the C export's arrays:
 *
 * | kind        | tensors (dtype, shape)                                                                    |
 * |-------------|-------------------------------------------------------------------------------------------|
 * | `dense`     | `<layer>.weight` F32 `[out, in]`                                                          |
 * | `csr`       | `<layer>.row_ptr` U32 `[out + 1]`, `<layer>.col_idx` U16/U32 `[nnz]`, `<layer>.values` F32 `[nnz]` (scipy.sparse.csr_matrix's indptr, indices, data) |
 * | `nm`        | `<layer>.nm_values` F32 `[out, groups, n]`, `<layer>.nm_idx` U8 `[out, groups, n]` (in-group position; group g covers inputs g·m … g·m + m − 1; slots of value 0 are padding) |
 * | `circulant` | `<layer>.vectors` F32 `[activeBlocks, b]`, `<layer>.block_idx` U16/U32 `[activeBlocks]` (flat `i · inBlocks + j`; `W[i·b + r, j·b + s] = v[(s − r) mod b]`, CirCNN / GST) |
 *
 * plus `<layer>.bias` F32 `[out]` for every layer and `action_low`, `action_high` F32 `[actDim]`.
 * `__metadata__` (all values strings): `format` = `sparse-rl-sparse-policy-1`, `env_id`,
 * `observation_space` / `action_space` (JSON of the Gymnasium spaces as sparse-rl records them),
 * `observation_size`, `action_size`, `squash` (`tanh` | `none`), `output_offset`, `source` (JSON:
 * run dir, checkpoint, step, agent, sparsifier, run name), `layers` (JSON list, in forward order,
 * of `{name, kind, out, in, activation, structure, masked}` plus `n, m, groups` for `nm` and
 * `block_size, out_blocks, in_blocks` for `circulant`).
 *
 * The forward pass: `x ← act(W x + b)` per layer (`relu`, `tanh` or `linear`), then
 * `a = x[output_offset … output_offset + action_size)`, `a ← tanh(a)` when `squash` is `tanh`,
 * `action = low + (a + 1) · (high − low) / 2` (env units). Readers: `readSparsePolicy` (here) and
 * `python -m sparse_rl_bridge.sparse_policy` (`bridge-python/src/sparse_rl_bridge/sparse_policy.py`, NumPy only).
 */
export const SPARSE_POLICY_FORMAT = 'sparse-rl-sparse-policy-1';

/** The dtypes of the format. */
type Tensor = NamedTensor;
type Dtype = 'F32' | 'U8' | 'U16' | 'U32';
const dtypeOf = (a: Tensor['data']): Dtype => (a instanceof Float32Array ? 'F32' : a instanceof Uint8Array ? 'U8' : a instanceof Uint16Array ? 'U16' : 'U32');

/** One layer's record in `__metadata__.layers`. */
interface LayerRecord {
  name: string;
  kind: StorageKind;
  out: number;
  in: number;
  activation: Activation;
  structure: LayerStructureHint;
  masked: boolean;
  n?: number;
  m?: number;
  groups?: number;
  block_size?: number;
  out_blocks?: number;
  in_blocks?: number;
}

/** The tensors of one stored layer, in file order. */
function layerTensors(s: LayerStorage): [string, Tensor][] {
  const p = s.layer;
  const t: [string, Tensor][] = [];
  switch (s.kind) {
    case 'dense':
      t.push([`${p}.weight`, { data: s.weight, shape: [s.outFeatures, s.inFeatures] }]);
      break;
    case 'csr':
      t.push([`${p}.row_ptr`, { data: s.rowPtr, shape: [s.outFeatures + 1] }], [`${p}.col_idx`, { data: s.colIdx, shape: [s.colIdx.length] }], [`${p}.values`, { data: s.values, shape: [s.values.length] }]);
      break;
    case 'nm':
      t.push([`${p}.nm_values`, { data: s.values, shape: [s.outFeatures, s.groups, s.n] }], [`${p}.nm_idx`, { data: s.idx, shape: [s.outFeatures, s.groups, s.n] }]);
      break;
    case 'circulant':
      t.push([`${p}.vectors`, { data: s.vectors, shape: [s.blockIdx.length, s.blockSize] }], [`${p}.block_idx`, { data: s.blockIdx, shape: [s.blockIdx.length] }]);
      break;
  }
  t.push([`${p}.bias`, { data: s.bias, shape: [s.outFeatures] }]);
  return t;
}

/**
 * Writes a policy as a `sparse-rl-sparse-policy-1` safetensors file (the format is described at
 * `SPARSE_POLICY_FORMAT`): every layer in the storage `layerStorage` chooses (dense, CSR, N:M,
 * block-circulant), biases and action bounds float32, spaces and layer records in `__metadata__`.
 * @returns the file's size in bytes
 * @throws Error naming the layer for an inconsistent model or two layers with one name; the file system's error naming the file
 */
export function writeSparsePolicy(model: PolicyModel, file: string): number {
  const { storages, report } = modelStorage(model);
  const names = new Set<string>();
  for (const l of model.layers) {
    if (names.has(l.name)) throw new Error(`${file}: two layers are named ${l.name}`);
    if (l.name === 'action_low' || l.name === 'action_high' || l.name === '__metadata__' || l.name === '') throw new Error(`${file}: layer name ${JSON.stringify(l.name)} is reserved`);
    names.add(l.name);
  }
  const records: LayerRecord[] = storages.map((s, k) => {
    const l = model.layers[k];
    const r: LayerRecord = { name: l.name, kind: s.kind, out: l.outFeatures, in: l.inFeatures, activation: l.activation, structure: l.structure, masked: l.mask !== null };
    if (s.kind === 'nm') Object.assign(r, { n: s.n, m: s.m, groups: s.groups });
    if (s.kind === 'circulant') Object.assign(r, { block_size: s.blockSize, out_blocks: s.outBlocks, in_blocks: s.inBlocks });
    return r;
  });
  const tensors = new Map<string, Tensor>(storages.flatMap(layerTensors));
  tensors.set('action_low', { data: Float32Array.from(model.actionLow), shape: [model.actionSize] });
  tensors.set('action_high', { data: Float32Array.from(model.actionHigh), shape: [model.actionSize] });
  const metadata: Record<string, string> = {
    format: SPARSE_POLICY_FORMAT,
    env_id: model.envId,
    observation_space: JSON.stringify(model.observationSpace),
    action_space: JSON.stringify(model.actionSpace),
    observation_size: String(model.observationSize),
    action_size: String(model.actionSize),
    squash: model.squash,
    output_offset: String(model.outputOffset),
    source: JSON.stringify(model.source),
    layers: JSON.stringify(records),
    storage_bytes: String(report.totalBytes),
    dense_bytes: String(report.denseBytes),
  };
  writeSafetensors(file, tensors, metadata);
  return statSync(file).size;
}

/**
 * Reads a `sparse-rl-sparse-policy-1` file (see `SPARSE_POLICY_FORMAT`) back into a
 * `PolicyModel`: the dense float32 weights are rebuilt from each layer's storage bit for bit.
 * Masks (layers recorded `masked`) are rebuilt from what is stored: CSR's stored entries, the
 * active blocks of a circulant layer, the non-zeros of an N:M or dense layer (a masked weight that
 * is exactly 0 then reads back as masked out); unmasked layers get `mask: null`.
 * @throws Error naming the file and the layer or tensor that is missing, has the wrong dtype or shape, or holds an index out of range; naming the file when it is not this format
 */
export function readSparsePolicy(file: string): PolicyModel {
  const { tensors, metadata } = readSafetensors(file);
  const fail = (what: string): never => {
    throw new Error(`${file}: ${what}`);
  };
  if (metadata.format !== SPARSE_POLICY_FORMAT) fail(`__metadata__.format is ${JSON.stringify(metadata.format)}, not ${SPARSE_POLICY_FORMAT}`);
  const json = <T>(key: string): T => {
    if (typeof metadata[key] !== 'string') fail(`__metadata__ has no ${key}`);
    try {
      return JSON.parse(metadata[key]) as T;
    } catch (e) {
      return fail(`__metadata__.${key} is not JSON (${(e as Error).message})`);
    }
  };
  const int = (key: string): number => {
    const v = Number(metadata[key]);
    if (!Number.isSafeInteger(v) || v < 0) fail(`__metadata__.${key} = ${JSON.stringify(metadata[key])} is not a non-negative integer`);
    return v;
  };
  const tensor = (name: string, dtypes: readonly Dtype[], shape: readonly number[]): Tensor['data'] => {
    const t = tensors.get(name);
    if (!t) return fail(`tensor ${name} is missing`);
    if (!dtypes.includes(dtypeOf(t.data))) fail(`tensor ${name} is ${dtypeOf(t.data)}, expected ${dtypes.join(' or ')}`);
    if (shape.length !== t.shape.length || shape.some((d, i) => d >= 0 && d !== t.shape[i])) fail(`tensor ${name} has shape [${t.shape.join(', ')}], expected [${shape.map((d) => (d < 0 ? '?' : d)).join(', ')}]`);
    return t.data;
  };
  const records = json<LayerRecord[]>('layers');
  if (!Array.isArray(records) || records.length === 0) fail('__metadata__.layers is not a non-empty list');
  const squash = metadata.squash;
  if (squash !== 'tanh' && squash !== 'none') fail(`__metadata__.squash is ${JSON.stringify(squash)}, expected tanh or none`);
  const actionSize = int('action_size');
  const layers = records.map((r): PolicyLayer => {
    const at = `layer ${r.name}`;
    if (!(Number.isInteger(r.out) && r.out >= 1 && Number.isInteger(r.in) && r.in >= 1)) fail(`${at}: bad shape ${r.out}×${r.in}`);
    const p = r.name;
    let w: LayerWeights;
    switch (r.kind) {
      case 'dense':
        w = { kind: 'dense', weight: tensor(`${p}.weight`, ['F32'], [r.out, r.in]) as Float32Array };
        break;
      case 'csr': {
        const values = tensor(`${p}.values`, ['F32'], [-1]) as Float32Array;
        w = { kind: 'csr', rowPtr: tensor(`${p}.row_ptr`, ['U32'], [r.out + 1]) as Uint32Array, colIdx: tensor(`${p}.col_idx`, ['U16', 'U32'], [values.length]) as IndexArray, values };
        break;
      }
      case 'nm': {
        const { n, m, groups } = r as Required<LayerRecord>;
        if (!(Number.isInteger(n) && Number.isInteger(m) && n >= 1 && n < m && groups === Math.ceil(r.in / m))) fail(`${at}: bad N:M record n=${n} m=${m} groups=${groups}`);
        w = { kind: 'nm', n, m, groups, values: tensor(`${p}.nm_values`, ['F32'], [r.out, groups, n]) as Float32Array, idx: tensor(`${p}.nm_idx`, ['U8'], [r.out, groups, n]) as Uint8Array };
        break;
      }
      case 'circulant': {
        const b = r.block_size!;
        if (!(Number.isInteger(b) && b >= 1)) fail(`${at}: bad block size ${b}`);
        const blockIdx = tensor(`${p}.block_idx`, ['U16', 'U32'], [-1]) as IndexArray;
        w = { kind: 'circulant', blockSize: b, outBlocks: r.out_blocks!, inBlocks: r.in_blocks!, blockIdx, vectors: tensor(`${p}.vectors`, ['F32'], [blockIdx.length, b]) as Float32Array };
        break;
      }
      default:
        return fail(`${at}: unknown storage kind ${JSON.stringify(r.kind)}`);
    }
    const weight = denseWeightOf(w, r.out, r.in, `${file}: ${at}`);
    const bias = Float32Array.from(tensor(`${p}.bias`, ['F32'], [r.out]) as Float32Array);
    let mask: Uint8Array | null = null;
    if (r.masked) {
      if (w.kind === 'csr') {
        mask = new Uint8Array(r.out * r.in);
        for (let row = 0; row < r.out; row++) for (let k = w.rowPtr[row]; k < w.rowPtr[row + 1]; k++) mask[row * r.in + w.colIdx[k]] = 1;
      } else if (w.kind === 'circulant') {
        const layout = circulantLayout(r.out, r.in, w.blockSize);
        const blocks = new Float32Array(blockCount(layout));
        for (const k of w.blockIdx) blocks[k] = 1;
        mask = Uint8Array.from(expandBlockMask(blocks, layout));
      } else {
        mask = Uint8Array.from(weight, (v) => (v !== 0 ? 1 : 0));
      }
    }
    if (!['relu', 'tanh', 'linear'].includes(r.activation)) fail(`${at}: unknown activation ${JSON.stringify(r.activation)}`);
    return {
      name: r.name, inFeatures: r.in, outFeatures: r.out, weight, bias, mask, activation: r.activation, structure: r.structure ?? (mask ? { kind: 'unstructured' } : { kind: 'dense' }),
      activeWeights: mask ? mask.reduce((a, v) => a + v, 0) : r.out * r.in,
    };
  });
  const model: PolicyModel = {
    envId: metadata.env_id ?? '',
    observationSize: int('observation_size'),
    actionSize,
    observationSpace: json<Space>('observation_space'),
    actionSpace: json<BoxSpace>('action_space'),
    layers,
    outputOffset: int('output_offset'),
    squash: squash as 'tanh' | 'none',
    actionLow: Float32Array.from(tensor('action_low', ['F32'], [actionSize]) as Float32Array),
    actionHigh: Float32Array.from(tensor('action_high', ['F32'], [actionSize]) as Float32Array),
    source: json<PolicyModel['source']>('source'),
  };
  try {
    checkPolicyModel(model);
  } catch (e) {
    fail((e as Error).message);
  }
  return model;
}
