import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import protobuf from 'protobufjs';
import { packageRoot } from '../util/paths.js';
import { ONNX_PROTO } from './onnx-proto.js';
import type { PolicyLayer, PolicyModel } from './policy-model.js';

/**
 * ONNX export of a {@link PolicyModel}: a self-contained `.onnx` file that any ONNX runtime can
 * run without sparse-rl, and a loader that runs such a file with ONNX Runtime (onnxruntime-node).
 *
 * The graph (opset {@link ONNX_OPSET}, IR version {@link ONNX_IR_VERSION}):
 *
 *     observation [batch, obsDim] float32 (env units)
 *       → per layer k: Gemm(x, W_k, b_k, transB = 1)  (W_k `[out, in]` as in the model)
 *                      → Relu | Tanh | nothing (linear)
 *       → Slice [outputOffset, outputOffset + actDim) on axis 1   (only when not the whole output)
 *       → Tanh                                                   (only when squash is 'tanh')
 *       → Mul(scale) → Add(offset), scale = (high − low) / 2, offset = low + scale
 *     → action [batch, actDim] float32 (env units)
 *
 * Weights are initializers. A masked weight is by default stored **sparse**: an ONNX
 * `SparseTensorProto` with the float32 values of the mask's non-zeros and their int64 linearised
 * indices `row · in + col` (ascending), as the `sparse_value` of a `Constant` node, or, on request,
 * as a `GraphProto.sparse_initializer` ({@link SparseEncoding}); ONNX Runtime makes either dense
 * at load. Dense layers, biases and the action map are dense initializers. Everything about the
 * policy is in the model's `metadata_props` (see {@link OnnxPolicyMetadata}).
 *
 * Encoding uses protobufjs with the ONNX schema vendored in `./onnx-proto.ts`.
 */

/** The ONNX operator set the exporter targets (default domain). */
export const ONNX_OPSET = 17;
/** The IR version of opset 17 (ONNX 1.12, IR_VERSION_2021_7_30). */
export const ONNX_IR_VERSION = 8;
/** Name of the graph input: `[batch, obsDim]` float32, env units. */
export const ONNX_INPUT_NAME = 'observation';
/** Name of the graph output: `[batch, actDim]` float32, env units. */
export const ONNX_OUTPUT_NAME = 'action';

/**
 * The `metadata_props` keys an export writes (all values are strings; JSON where noted):
 * - `producer`: `sparse-rl`; `producer_version`: the package version;
 * - `env_id`; `observation_space`, `action_space`: the spaces as the environment reported them (JSON);
 * - `observation_size`, `action_size`, `output_offset`, `squash` (`tanh` | `none`);
 * - `layers`: JSON array, per layer `{ name, inFeatures, outFeatures, activation, structure,
 *   activeWeights, totalWeights, sparsity, storage: 'sparse' | 'dense' }`;
 * - `sparsity`: JSON object layer name → sparsity (fraction of weights masked, 0 for dense layers);
 * - `active_weights`, `total_weights`: weights allowed by the masks / all weights, summed over layers;
 * - `sparse_encoding`: how the sparse weights are stored ({@link SparseEncoding}), `none` when no
 *   weight is sparse;
 * - `source_run_dir`, `source_checkpoint`, `source_step`, `source_agent`, `source_sparsifier`,
 *   `source_name`: where the policy comes from ({@link PolicyModel.source}).
 */
export type OnnxPolicyMetadata = Record<string, string>;

/**
 * How a sparse weight is stored (both hold an ONNX `SparseTensorProto`: the float32 values of the
 * mask's non-zeros and their int64 linearised indices `row · in + col`, ascending, dense shape
 * `[out, in]`):
 * - `constant` (the default): a `Constant` node whose `sparse_value` attribute is the sparse
 *   tensor; its output is a dense tensor for every consumer. Accepted by the ONNX checker
 *   including `full_check` (type and shape inference), and run by ONNX Runtime.
 * - `initializer`: an entry of `GraphProto.sparse_initializer`. ONNX Runtime (onnxruntime-node
 *   1.30, Python onnxruntime 1.32) makes it dense at load and runs it, and `onnx.checker` accepts
 *   it, but not with `full_check`: ONNX's type inference (onnx 1.23) types a sparse initializer as
 *   `sparse_tensor(float)`, which Gemm does not take.
 */
export type SparseEncoding = 'constant' | 'initializer';

/** Options of {@link writeOnnxPolicy}. */
export interface WriteOnnxOptions {
  /**
   * Store masked weights sparse (values + indices of the mask's non-zeros, see
   * {@link SparseEncoding}) instead of as dense initializers. Default true. Dense layers (no
   * mask) are always dense initializers. Size: 12 bytes a non-zero (float32 value + int64 index)
   * against 4 bytes a weight, so the file shrinks when a layer keeps under 1/3 of its weights.
   */
  readonly sparseInitializers?: boolean;
  /** How sparse weights are stored when `sparseInitializers` is on; default `constant`. */
  readonly sparseEncoding?: SparseEncoding;
}

/** What {@link writeOnnxPolicy} wrote. */
export interface WriteOnnxResult {
  /** Size of the file in bytes. */
  readonly bytes: number;
  /** True when at least one weight was stored sparse. */
  readonly sparseInitializers: boolean;
  /** How the sparse weights were stored; `none` when no weight is sparse. */
  readonly sparseEncoding: SparseEncoding | 'none';
}

// ---------------------------------------------------------------------------------------------
// Schema

let schema: { model: protobuf.Type } | undefined;
function onnxSchema(): { model: protobuf.Type } {
  if (!schema) {
    const root = protobuf.parse(ONNX_PROTO, { keepCase: true }).root;
    root.resolveAll();
    schema = { model: root.lookupType('onnx.ModelProto') };
  }
  return schema;
}

/** `TensorProto.DataType` values used here. */
const FLOAT = 1;
const INT64 = 7;
/** `AttributeProto.AttributeType` values used here. */
const ATTR_INT = 2;
const ATTR_SPARSE_TENSOR = 11;

interface TensorJson {
  name: string;
  dims: number[];
  data_type: number;
  raw_data: Uint8Array;
}

/** Little-endian float32 bytes (ONNX `raw_data` is little-endian on every platform). */
function float32Raw(values: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(values.length * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i], true);
  return out;
}

/** Little-endian int64 bytes. */
function int64Raw(values: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(values.length * 8);
  const view = new DataView(out.buffer);
  for (let i = 0; i < values.length; i++) view.setBigInt64(i * 8, BigInt(values[i]), true);
  return out;
}

interface SparseTensorJson {
  values: TensorJson;
  indices: TensorJson;
  dims: number[];
}

const floatTensor = (name: string, dims: number[], values: ArrayLike<number>): TensorJson => ({ name, dims, data_type: FLOAT, raw_data: float32Raw(values) });
const int64Tensor = (name: string, dims: number[], values: ArrayLike<number>): TensorJson => ({ name, dims, data_type: INT64, raw_data: int64Raw(values) });

const valueInfo = (name: string, dims: (number | string)[]) => ({
  name,
  type: { tensor_type: { elem_type: FLOAT, shape: { dim: dims.map((d) => (typeof d === 'string' ? { dim_param: d } : { dim_value: d })) } } },
});

const node = (opType: string, name: string, inputs: string[], outputs: string[], attribute: object[] = []) => ({ op_type: opType, name, input: inputs, output: outputs, attribute });

// ---------------------------------------------------------------------------------------------
// Export

/** Checks that the model is a consistent chain of linear layers with finite bounds; throws naming the file and layer. */
function checkModel(model: PolicyModel, file: string): void {
  const fail = (msg: string): never => {
    throw new Error(`ONNX export to ${file}: ${msg}`);
  };
  if (model.layers.length === 0) fail('the policy has no layers');
  if (!Number.isInteger(model.observationSize) || model.observationSize < 1) fail(`observationSize must be a positive integer, got ${model.observationSize}`);
  if (!Number.isInteger(model.actionSize) || model.actionSize < 1) fail(`actionSize must be a positive integer, got ${model.actionSize}`);
  let inFeatures = model.observationSize;
  for (const l of model.layers) {
    const where = `layer ${l.name}`;
    if (l.inFeatures !== inFeatures) fail(`${where} takes ${l.inFeatures} inputs but the previous layer (or the observation) gives ${inFeatures}`);
    if (!Number.isInteger(l.outFeatures) || l.outFeatures < 1) fail(`${where}: outFeatures must be a positive integer, got ${l.outFeatures}`);
    if (l.weight.length !== l.outFeatures * l.inFeatures) fail(`${where}: weight has ${l.weight.length} entries, expected [${l.outFeatures}, ${l.inFeatures}] = ${l.outFeatures * l.inFeatures}`);
    if (l.bias.length !== l.outFeatures) fail(`${where}: bias has ${l.bias.length} entries, expected ${l.outFeatures}`);
    if (l.mask && l.mask.length !== l.weight.length) fail(`${where}: mask has ${l.mask.length} entries, expected ${l.weight.length}`);
    if (l.activation !== 'relu' && l.activation !== 'tanh' && l.activation !== 'linear') fail(`${where}: unsupported activation '${String(l.activation)}' (relu, tanh, linear)`);
    for (let i = 0; i < l.weight.length; i++) {
      if (!Number.isFinite(l.weight[i])) fail(`${where}: weight[${i}] is ${l.weight[i]}`);
      if (l.mask && !l.mask[i] && l.weight[i] !== 0) fail(`${where}: weight[${i}] = ${l.weight[i]} is masked but not 0`);
    }
    for (let i = 0; i < l.bias.length; i++) if (!Number.isFinite(l.bias[i])) fail(`${where}: bias[${i}] is ${l.bias[i]}`);
    inFeatures = l.outFeatures;
  }
  if (!Number.isInteger(model.outputOffset) || model.outputOffset < 0 || model.outputOffset + model.actionSize > inFeatures) {
    fail(`output slice [${model.outputOffset}, ${model.outputOffset + model.actionSize}) is outside the last layer's ${inFeatures} outputs`);
  }
  if (model.squash !== 'tanh' && model.squash !== 'none') fail(`unsupported squash '${String(model.squash)}' (tanh, none)`);
  if (model.actionLow.length !== model.actionSize || model.actionHigh.length !== model.actionSize) {
    fail(`action bounds have ${model.actionLow.length} / ${model.actionHigh.length} entries, expected ${model.actionSize}`);
  }
  for (let i = 0; i < model.actionSize; i++) {
    if (!Number.isFinite(model.actionLow[i]) || !Number.isFinite(model.actionHigh[i])) fail(`action bounds must be finite, got low=${model.actionLow[i]} high=${model.actionHigh[i]} at index ${i}`);
  }
}

const layerActive = (l: PolicyLayer): number => (l.mask ? l.mask.reduce((a, b) => a + b, 0) : l.weight.length);

/** The `metadata_props` of an export (see {@link OnnxPolicyMetadata}). */
function exportMetadata(model: PolicyModel, storage: readonly ('sparse' | 'dense')[], sparseEncoding: SparseEncoding | 'none'): OnnxPolicyMetadata {
  const layers = model.layers.map((l, k) => {
    const active = layerActive(l);
    const total = l.weight.length;
    return {
      name: l.name, inFeatures: l.inFeatures, outFeatures: l.outFeatures, activation: l.activation, structure: l.structure,
      activeWeights: active, totalWeights: total, sparsity: 1 - active / total, storage: storage[k],
    };
  });
  const version = (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
  return {
    producer: 'sparse-rl',
    producer_version: version,
    env_id: model.envId,
    observation_space: JSON.stringify(model.observationSpace),
    action_space: JSON.stringify(model.actionSpace),
    observation_size: String(model.observationSize),
    action_size: String(model.actionSize),
    output_offset: String(model.outputOffset),
    squash: model.squash,
    layers: JSON.stringify(layers),
    sparsity: JSON.stringify(Object.fromEntries(layers.map((l) => [l.name, l.sparsity]))),
    active_weights: String(layers.reduce((a, l) => a + l.activeWeights, 0)),
    total_weights: String(layers.reduce((a, l) => a + l.totalWeights, 0)),
    sparse_encoding: sparseEncoding,
    source_run_dir: model.source.runDir,
    source_checkpoint: model.source.checkpoint,
    source_step: String(model.source.step),
    source_agent: model.source.agent,
    source_sparsifier: model.source.sparsifier,
    source_name: model.source.name,
  };
}

/**
 * Writes `model` as an ONNX model file (see the module comment for the graph).
 *
 * - Input `observation`: float32 `[batch, obsDim]` (symbolic `batch`), env units.
 * - Output `action`: float32 `[batch, actDim]`, env units (the model's affine map of [−1, 1] to
 *   the Box bounds included).
 * - Opset {@link ONNX_OPSET}, IR version {@link ONNX_IR_VERSION}, producer `sparse-rl`.
 *
 * @param model the policy (e.g. `loadPolicy(runDir).model`); masked weights must be 0.
 * @param file the `.onnx` path to write (overwritten).
 * @param options `sparseInitializers` (default true): masked weights as sparse initializers.
 * @returns the file size in bytes and whether sparse initializers were written.
 * @throws Error naming the file and the layer when the model is inconsistent (shapes, a masked
 *   weight that is not 0, a non-finite parameter or bound, an unsupported activation or squash,
 *   an output slice outside the last layer), or the file when it cannot be written.
 */
export function writeOnnxPolicy(model: PolicyModel, file: string, options: WriteOnnxOptions = {}): WriteOnnxResult {
  checkModel(model, file);
  const sparse = options.sparseInitializers ?? true;
  const encoding: SparseEncoding = options.sparseEncoding ?? 'constant';
  if (encoding !== 'constant' && encoding !== 'initializer') throw new Error(`ONNX export to ${file}: unknown sparseEncoding '${String(encoding)}' (constant, initializer)`);
  const initializer: TensorJson[] = [];
  const sparseInitializer: SparseTensorJson[] = [];
  const nodes: object[] = [];
  const storage: ('sparse' | 'dense')[] = [];
  let x = ONNX_INPUT_NAME;
  const last = model.layers[model.layers.length - 1];

  model.layers.forEach((l) => {
    const w = `${l.name}.weight`;
    const b = `${l.name}.bias`;
    if (sparse && l.mask) {
      const idx: number[] = [];
      const vals: number[] = [];
      for (let i = 0; i < l.mask.length; i++) {
        if (l.mask[i]) {
          idx.push(i);
          vals.push(l.weight[i]);
        }
      }
      const tensor: SparseTensorJson = { values: floatTensor(w, [idx.length], vals), indices: int64Tensor(`${w}.indices`, [idx.length], idx), dims: [l.outFeatures, l.inFeatures] };
      if (encoding === 'initializer') sparseInitializer.push(tensor);
      else nodes.push(node('Constant', `${w}.constant`, [], [w], [{ name: 'sparse_value', type: ATTR_SPARSE_TENSOR, sparse_tensor: tensor }]));
      storage.push('sparse');
    } else {
      initializer.push(floatTensor(w, [l.outFeatures, l.inFeatures], l.weight));
      storage.push('dense');
    }
    initializer.push(floatTensor(b, [l.outFeatures], l.bias));
    const y = `${l.name}.linear`;
    nodes.push(node('Gemm', `${l.name}.gemm`, [x, w, b], [y], [{ name: 'transB', type: ATTR_INT, i: 1 }]));
    x = y;
    if (l.activation !== 'linear') {
      const op = l.activation === 'relu' ? 'Relu' : 'Tanh';
      const z = `${l.name}.${l.activation}`;
      nodes.push(node(op, `${l.name}.${l.activation}`, [x], [z]));
      x = z;
    }
  });

  if (model.outputOffset !== 0 || model.actionSize !== last.outFeatures) {
    initializer.push(int64Tensor('policy.slice.starts', [1], [model.outputOffset]));
    initializer.push(int64Tensor('policy.slice.ends', [1], [model.outputOffset + model.actionSize]));
    initializer.push(int64Tensor('policy.slice.axes', [1], [1]));
    nodes.push(node('Slice', 'policy.slice', [x, 'policy.slice.starts', 'policy.slice.ends', 'policy.slice.axes'], ['policy.sliced']));
    x = 'policy.sliced';
  }
  if (model.squash === 'tanh') {
    nodes.push(node('Tanh', 'policy.squash', [x], ['policy.squashed']));
    x = 'policy.squashed';
  }
  const scale = new Float64Array(model.actionSize);
  const offset = new Float64Array(model.actionSize);
  for (let i = 0; i < model.actionSize; i++) {
    scale[i] = (model.actionHigh[i] - model.actionLow[i]) / 2;
    offset[i] = model.actionLow[i] + scale[i];
  }
  initializer.push(floatTensor('policy.action_scale', [model.actionSize], scale));
  initializer.push(floatTensor('policy.action_offset', [model.actionSize], offset));
  nodes.push(node('Mul', 'policy.scale', [x, 'policy.action_scale'], ['policy.scaled']));
  nodes.push(node('Add', 'policy.offset', ['policy.scaled', 'policy.action_offset'], [ONNX_OUTPUT_NAME]));

  const sparseEncoding = storage.includes('sparse') ? encoding : 'none';
  const metadata = exportMetadata(model, storage, sparseEncoding);
  const message = {
    ir_version: ONNX_IR_VERSION,
    opset_import: [{ domain: '', version: ONNX_OPSET }],
    producer_name: 'sparse-rl',
    producer_version: metadata.producer_version,
    doc_string:
      `Deterministic policy (${model.source.agent}, ${model.source.sparsifier}) of run ${model.source.name} at step ${model.source.step}, ` +
      `env ${model.envId}: observation [batch, ${model.observationSize}] → action [batch, ${model.actionSize}], env units.`,
    graph: {
      name: 'policy',
      node: nodes,
      initializer,
      sparse_initializer: sparseInitializer,
      input: [valueInfo(ONNX_INPUT_NAME, ['batch', model.observationSize])],
      output: [valueInfo(ONNX_OUTPUT_NAME, ['batch', model.actionSize])],
    },
    metadata_props: Object.entries(metadata).map(([key, value]) => ({ key, value })),
  };
  const { model: ModelProto } = onnxSchema();
  const bytes = ModelProto.encode(ModelProto.fromObject(message)).finish();
  try {
    writeFileSync(file, bytes);
  } catch (e) {
    throw new Error(`ONNX export: cannot write ${file}: ${(e as Error).message}`);
  }
  return { bytes: bytes.length, sparseInitializers: sparseEncoding !== 'none', sparseEncoding };
}

// ---------------------------------------------------------------------------------------------
// Load

/** What {@link readOnnxModelInfo} reads from a model file. */
export interface OnnxModelInfo {
  /** `metadata_props` as a record. */
  readonly metadata: OnnxPolicyMetadata;
  readonly irVersion: number;
  /** Opset of the default domain. */
  readonly opset: number;
  readonly producer: string;
  /** Graph inputs / outputs: name and dims (a string for a symbolic dim). */
  readonly inputs: readonly { readonly name: string; readonly dims: readonly (number | string)[] }[];
  readonly outputs: readonly { readonly name: string; readonly dims: readonly (number | string)[] }[];
  /** Dense initializers: name and dims. */
  readonly initializers: readonly { readonly name: string; readonly dims: readonly number[] }[];
  /**
   * Sparse tensors (`GraphProto.sparse_initializer` entries, form `initializer`, and `Constant`
   * nodes with a `sparse_value`, form `constant`): name, dense dims and number of stored values.
   */
  readonly sparseInitializers: readonly { readonly name: string; readonly dims: readonly number[]; readonly nnz: number; readonly form: SparseEncoding }[];
}

type Int64 = number | { toNumber(): number };
const num = (v: Int64 | undefined | null): number => (v === undefined || v === null ? 0 : typeof v === 'number' ? v : v.toNumber());

/**
 * Reads the metadata and structure of an ONNX model file (no runtime needed).
 * @throws Error naming the file when it cannot be read or is not an ONNX model.
 */
export function readOnnxModelInfo(file: string): OnnxModelInfo {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    throw new Error(`cannot read ONNX model ${file}: ${(e as Error).message}`);
  }
  interface Dim { dim_value?: Int64; dim_param?: string }
  interface Vi { name?: string; type?: { tensor_type?: { shape?: { dim?: Dim[] } } } }
  interface Tp { name?: string; dims?: Int64[] }
  interface Sp { values?: Tp; dims?: Int64[] }
  let m: {
    ir_version?: Int64; producer_name?: string; opset_import?: { domain?: string; version?: Int64 }[];
    metadata_props?: { key?: string; value?: string }[];
    graph?: {
      input?: Vi[]; output?: Vi[]; initializer?: Tp[]; sparse_initializer?: Sp[];
      node?: { op_type?: string; output?: string[]; attribute?: { name?: string; sparse_tensor?: Sp }[] }[];
    };
  };
  try {
    m = onnxSchema().model.decode(bytes) as unknown as typeof m;
  } catch (e) {
    throw new Error(`${file} is not an ONNX model: ${(e as Error).message}`);
  }
  if (!m.graph) throw new Error(`${file} is not an ONNX model: it has no graph`);
  const sparseInfo = (name: string, sp: Sp, form: SparseEncoding) => ({
    name, dims: (sp.dims ?? []).map(num), nnz: (sp.values?.dims ?? []).map(num).reduce((a, b) => a * b, 1), form,
  });
  const io = (v: Vi) => ({ name: v.name ?? '', dims: (v.type?.tensor_type?.shape?.dim ?? []).map((d) => (d.dim_param ? d.dim_param : num(d.dim_value))) });
  return {
    metadata: Object.fromEntries((m.metadata_props ?? []).map((p) => [p.key ?? '', p.value ?? ''])),
    irVersion: num(m.ir_version),
    opset: num((m.opset_import ?? []).find((o) => !o.domain)?.version),
    producer: m.producer_name ?? '',
    inputs: (m.graph.input ?? []).map(io),
    outputs: (m.graph.output ?? []).map(io),
    initializers: (m.graph.initializer ?? []).map((t) => ({ name: t.name ?? '', dims: (t.dims ?? []).map(num) })),
    sparseInitializers: [
      ...(m.graph.sparse_initializer ?? []).map((sp) => sparseInfo(sp.values?.name ?? '', sp, 'initializer')),
      ...(m.graph.node ?? []).flatMap((n) => {
        const sp = n.op_type === 'Constant' ? n.attribute?.find((a) => a.name === 'sparse_value')?.sparse_tensor : undefined;
        return sp ? [sparseInfo(n.output?.[0] ?? '', sp, 'constant')] : [];
      }),
    ],
  };
}

/** A loaded ONNX policy, run with ONNX Runtime (onnxruntime-node, CPU). */
export interface OnnxPolicy {
  /**
   * `[n, obsDim]` observations (env units, row-major) → `[n, actDim]` actions (env units, a new array).
   * @throws Error naming the file when `observations.length !== n · obsDim`
   */
  act(observations: Float32Array, n: number): Promise<Float32Array>;
  /** The model's `metadata_props` (see {@link OnnxPolicyMetadata}). */
  readonly metadata: OnnxPolicyMetadata;
  readonly observationSize: number;
  readonly actionSize: number;
  /** Releases the session; `act` fails afterwards. */
  close(): Promise<void>;
}

type Ort = typeof import('onnxruntime-node');

async function importOrt(file: string): Promise<Ort> {
  try {
    const mod = (await import('onnxruntime-node')) as Ort & { default?: Ort };
    return mod.InferenceSession ? mod : mod.default!;
  } catch (e) {
    throw new Error(
      `loading ONNX model ${file} needs the optional package onnxruntime-node, which did not load (${(e as Error).message}); ` +
        'install it next to sparse-rl: npm install onnxruntime-node@1.30.0 (its install script only fetches CUDA libraries and can be denied)',
    );
  }
}

/**
 * Loads an ONNX policy written by {@link writeOnnxPolicy} (input `observation` `[batch, obsDim]`,
 * output `action` `[batch, actDim]`, float32) into an ONNX Runtime CPU session.
 * Needs the optional package `onnxruntime-node`.
 * @throws Error naming the file when onnxruntime-node is missing, the file is not an ONNX model,
 *   lacks the `observation` input or `action` output with static feature dims, or ONNX Runtime
 *   refuses it (its message included)
 */
export async function loadOnnxPolicy(file: string): Promise<OnnxPolicy> {
  const info = readOnnxModelInfo(file);
  const input = info.inputs.find((i) => i.name === ONNX_INPUT_NAME);
  const output = info.outputs.find((o) => o.name === ONNX_OUTPUT_NAME);
  if (!input || input.dims.length !== 2 || typeof input.dims[1] !== 'number' || input.dims[1] < 1) {
    throw new Error(`ONNX model ${file} has no float32 input '${ONNX_INPUT_NAME}' of shape [batch, obsDim] (inputs: ${JSON.stringify(info.inputs)})`);
  }
  if (!output || output.dims.length !== 2 || typeof output.dims[1] !== 'number' || output.dims[1] < 1) {
    throw new Error(`ONNX model ${file} has no float32 output '${ONNX_OUTPUT_NAME}' of shape [batch, actDim] (outputs: ${JSON.stringify(info.outputs)})`);
  }
  const obsDim = input.dims[1];
  const actDim = output.dims[1];
  const ort = await importOrt(file);
  let session: Awaited<ReturnType<Ort['InferenceSession']['create']>> | undefined;
  try {
    session = await ort.InferenceSession.create(file, { executionProviders: ['cpu'] });
  } catch (e) {
    throw new Error(`ONNX Runtime cannot load ${file}: ${(e as Error).message}`);
  }
  let closed = false;
  return {
    metadata: info.metadata,
    observationSize: obsDim,
    actionSize: actDim,
    async act(observations: Float32Array, n: number): Promise<Float32Array> {
      if (closed) throw new Error(`ONNX policy ${file} is closed`);
      if (!Number.isInteger(n) || n < 0 || observations.length !== n * obsDim) {
        throw new Error(`ONNX policy ${file}: expected ${n} × ${obsDim} observations, got ${observations.length} values`);
      }
      if (n === 0) return new Float32Array(0);
      const feeds = { [ONNX_INPUT_NAME]: new ort.Tensor('float32', observations, [n, obsDim]) };
      const result = await session!.run(feeds);
      const out = result[ONNX_OUTPUT_NAME];
      if (!out || out.type !== 'float32' || out.data.length !== n * actDim) {
        throw new Error(`ONNX policy ${file}: output '${ONNX_OUTPUT_NAME}' is not float32 [${n}, ${actDim}]`);
      }
      return Float32Array.from(out.data as Float32Array);
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      await session!.release();
    },
  };
}
