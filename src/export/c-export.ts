import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatSizeReport, modelStorage, type LayerStorage, type SizeReport } from './layer-storage.js';
import type { PolicyModel } from './policy-model.js';

/**
 * The C99 literal of a float32 value that reads back as exactly that float32: 9 significant
 * digits (enough for every float32, as C's `%.9g`), trailing zeros dropped, `f` suffix. 9 digits
 * put the decimal within 5·10⁻⁹ (relative) of the value, far from the midpoints between floats,
 * so a compiler's correctly rounded conversion gives the value back.
 * @throws RangeError for NaN and ±Infinity (`what` names the entry)
 */
export function cFloatLiteral(v: number, what = 'value'): string {
  const f = Math.fround(v);
  if (!Number.isFinite(f)) throw new RangeError(`${what} is ${f}: the C export needs finite weights`);
  if (f === 0) return Object.is(f, -0) ? '-0.0f' : '0.0f';
  let s = f.toPrecision(9);
  let exp = '';
  const e = s.indexOf('e');
  if (e >= 0) {
    exp = s.slice(e);
    s = s.slice(0, e);
  }
  if (s.includes('.')) s = s.replace(/0+$/, '').replace(/\.$/, '.0');
  else if (!exp) s += '.0';
  return `${s}${exp}f`;
}

/** Identifier-safe text for a C comment (no comment terminators, printable ASCII only). */
const commentText = (s: string) => s.replace(/\*\//g, '* /').replace(/[^\x20-\x7e]/g, '?');

/** `static const <type> <name>[n] = { ... };` (n ≥ 1: an empty array is emitted as one 0, never read). */
function cArray(type: string, name: string, values: ArrayLike<number>, format: (v: number, i: number) => string, perLine: number): string {
  const n = values.length;
  if (n === 0) return `static const ${type} ${name}[1] = { 0 }; /* empty, never read */\n`;
  const lines: string[] = [];
  for (let i = 0; i < n; i += perLine) {
    const row: string[] = [];
    for (let k = i; k < Math.min(n, i + perLine); k++) row.push(format(values[k], k));
    lines.push(`  ${row.join(', ')}`);
  }
  return `static const ${type} ${name}[${n}] = {\n${lines.join(',\n')}\n};\n`;
}

const floats = (name: string, what: string, values: Float32Array) => cArray('float', name, values, (v, i) => cFloatLiteral(v, `${what}[${i}]`), 6);
const ints = (type: string, name: string, values: ArrayLike<number>) => cArray(type, name, values, (v) => `${v}`, 16);

type IndexWidth = 'u16' | 'u32';
const cIndexType = (w: IndexWidth) => (w === 'u16' ? 'uint16_t' : 'uint32_t');
const widthOf = (a: Uint16Array | Uint32Array): IndexWidth => (a instanceof Uint16Array ? 'u16' : 'u32');

/** The kernels: each computes `y = W x + b` (no activation) for one storage kind (and index width). */
const KERNELS = {
  dense: `/* y[r] = sum_c w[r*in + c] x[c] + b[r]; w row-major [out, in] */
static void policy_dense(int out, int in, const float *w, const float *b, const float *x, float *y)
{
    int r, c;
    for (r = 0; r < out; r++) {
        const float *wr = w + (size_t)r * (size_t)in;
        float s = 0.0f;
        for (c = 0; c < in; c++) s += wr[c] * x[c];
        y[r] = s + b[r];
    }
}
`,
  csr: (w: IndexWidth) => `/* CSR (scipy.sparse.csr_matrix layout): row r holds values[row_ptr[r] .. row_ptr[r+1]) at columns col_idx */
static void policy_csr_${w}(int out, const uint32_t *row_ptr, const ${cIndexType(w)} *col_idx, const float *values, const float *b, const float *x, float *y)
{
    int r;
    uint32_t k;
    for (r = 0; r < out; r++) {
        float s = 0.0f;
        for (k = row_ptr[r]; k < row_ptr[r + 1]; k++) s += values[k] * x[col_idx[k]];
        y[r] = s + b[r];
    }
}
`,
  nm: `/* N:M packed: row r, group g (inputs g*m .. g*m+m-1) holds n (value, in-group index) slots,
   [out, groups, n]; padding slots have value 0 and index 0 */
static void policy_nm(int out, int groups, int n, int m, const float *values, const uint8_t *idx, const float *b, const float *x, float *y)
{
    int r, g, k;
    for (r = 0; r < out; r++) {
        const float *v = values + (size_t)r * (size_t)groups * (size_t)n;
        const uint8_t *ix = idx + (size_t)r * (size_t)groups * (size_t)n;
        float s = 0.0f;
        for (g = 0; g < groups; g++) {
            const float *xg = x + g * m;
            for (k = 0; k < n; k++) s += v[g * n + k] * xg[ix[g * n + k]];
        }
        y[r] = s + b[r];
    }
}
`,
  circulant: (w: IndexWidth) => `/* block-circulant (CirCNN / GST): active block k = block_idx[k] = i*in_blocks + j holds the vector c = vectors[k*bs ..];
   W[i*bs + r][j*bs + s] = c[(s - r) mod bs], so y[i*bs + r] += sum_s c[(s - r) mod bs] x[j*bs + s];
   blocks cut by the edges (out or in not multiples of bs) use only their existing rows and columns */
static void policy_circulant_${w}(int out, int in, int bs, int in_blocks, int active, const ${cIndexType(w)} *block_idx, const float *vectors, const float *b, const float *x, float *y)
{
    int k, r, s, i = 0;
    uint32_t row_start = 0; /* i * in_blocks: block_idx is ascending, so the block row only grows (no division) */
    for (r = 0; r < out; r++) y[r] = 0.0f;
    for (k = 0; k < active; k++) {
        while (block_idx[k] >= row_start + (uint32_t)in_blocks) {
            row_start += (uint32_t)in_blocks;
            i++;
        }
        const int j = (int)(block_idx[k] - row_start);
        const int rows = out - i * bs < bs ? out - i * bs : bs, cols = in - j * bs < bs ? in - j * bs : bs;
        const float *c = vectors + (size_t)k * (size_t)bs;
        const float *xj = x + j * bs;
        float *yi = y + i * bs;
        for (r = 0; r < rows; r++) {
            /* (s - r) mod bs without a modulo: s < r -> s - r + bs, s >= r -> s - r */
            const int split = r < cols ? r : cols;
            float acc = 0.0f;
            for (s = 0; s < split; s++) acc += c[s - r + bs] * xj[s];
            for (s = split; s < cols; s++) acc += c[s - r] * xj[s];
            yi[r] += acc;
        }
    }
    for (r = 0; r < out; r++) y[r] += b[r];
}
`,
  relu: `static void policy_relu(int n, float *y)
{
    int i;
    for (i = 0; i < n; i++) y[i] = y[i] > 0.0f ? y[i] : 0.0f;
}
`,
  tanh: `static void policy_tanh(int n, float *y)
{
    int i;
    for (i = 0; i < n; i++) y[i] = tanhf(y[i]);
}
`,
};

/** The comment block heading both files: source, env, sparsity, size report. */
function headerComment(model: PolicyModel, report: SizeReport, what: string): string {
  const s = model.source;
  const lines = [
    `${what}: deterministic policy exported by sparse-rl (C99, no dynamic allocation, <math.h> only).`,
    '',
    `run:        ${s.name} (${s.runDir})`,
    `checkpoint: ${s.checkpoint} (step ${s.step})`,
    `agent:      ${s.agent}, sparsifier: ${s.sparsifier}`,
    `env:        ${model.envId}, obs ${model.observationSize} -> action ${model.actionSize}`,
    `sparsity:   ${(100 * report.total.sparsity).toFixed(2)} % of the weights are zero (biases not counted)`,
    `storage:    ${report.total.bytes} bytes (weights ${report.total.weightBytes} + indices ${report.total.indexBytes} + biases ${report.total.biasBytes})`,
    `            vs ${report.total.denseBytes} bytes dense float32 (${(100 * report.total.ratio).toFixed(1)} %)`,
    '',
    ...formatSizeReport(report).split('\n'),
    '',
    'policy_act(obs, action): obs[POLICY_OBS_DIM] in env units -> action[POLICY_ACT_DIM] in env units',
    `(layers, then outputs [${model.outputOffset}, ${model.outputOffset + model.actionSize}), ${model.squash === 'tanh' ? 'tanh, ' : ''}then low + (a + 1) (high - low) / 2).`,
    'Uses static scratch buffers: not reentrant, call from one thread at a time.',
  ];
  return `/*\n${lines.map((l) => ` * ${commentText(l)}`.trimEnd()).join('\n')}\n */\n`;
}

/** The C99 declarations and statements of one layer: its arrays, and its call inside policy_act. */
function layerCode(s: LayerStorage, k: number, x: string, y: string): { arrays: string; call: string } {
  const p = `policy_l${k}`;
  const at = `layer ${s.layer}`;
  let arrays = `/* layer ${k}: ${commentText(s.layer)}, ${s.outFeatures} x ${s.inFeatures}, ${s.kind}, ${s.bytes} bytes */\n`;
  let call: string;
  switch (s.kind) {
    case 'dense':
      arrays += floats(`${p}_w`, `${at} weight`, s.weight);
      call = `policy_dense(${s.outFeatures}, ${s.inFeatures}, ${p}_w, ${p}_b, ${x}, ${y});`;
      break;
    case 'csr': {
      arrays += ints('uint32_t', `${p}_row_ptr`, s.rowPtr) + ints(cIndexType(widthOf(s.colIdx)), `${p}_col_idx`, s.colIdx) + floats(`${p}_values`, `${at} values`, s.values);
      call = `policy_csr_${widthOf(s.colIdx)}(${s.outFeatures}, ${p}_row_ptr, ${p}_col_idx, ${p}_values, ${p}_b, ${x}, ${y});`;
      break;
    }
    case 'nm':
      arrays += floats(`${p}_nm_values`, `${at} nm_values`, s.values) + ints('uint8_t', `${p}_nm_idx`, s.idx);
      call = `policy_nm(${s.outFeatures}, ${s.groups}, ${s.n}, ${s.m}, ${p}_nm_values, ${p}_nm_idx, ${p}_b, ${x}, ${y});`;
      break;
    case 'circulant': {
      arrays += ints(cIndexType(widthOf(s.blockIdx)), `${p}_block_idx`, s.blockIdx) + floats(`${p}_vectors`, `${at} vectors`, s.vectors);
      call = `policy_circulant_${widthOf(s.blockIdx)}(${s.outFeatures}, ${s.inFeatures}, ${s.blockSize}, ${s.inBlocks}, ${s.blockIdx.length}, ${p}_block_idx, ${p}_vectors, ${p}_b, ${x}, ${y});`;
      break;
    }
  }
  arrays += floats(`${p}_b`, `${at} bias`, s.bias);
  return { arrays, call };
}

/** Kernel sources used by a set of storages (only the variants in use, so -Wall stays quiet). */
function kernelSource(storages: readonly LayerStorage[], activations: Set<string>): string {
  const parts = new Set<string>();
  for (const s of storages) {
    if (s.kind === 'dense') parts.add(KERNELS.dense);
    else if (s.kind === 'csr') parts.add(KERNELS.csr(widthOf(s.colIdx)));
    else if (s.kind === 'nm') parts.add(KERNELS.nm);
    else parts.add(KERNELS.circulant(widthOf(s.blockIdx)));
  }
  if (activations.has('relu')) parts.add(KERNELS.relu);
  if (activations.has('tanh')) parts.add(KERNELS.tanh);
  return [...parts].join('\n');
}

/** The generated C sources (not written) and the size report. */
export interface CPolicySources {
  /** `policy.h`. */
  readonly header: string;
  /** `policy.c`. */
  readonly source: string;
  readonly report: SizeReport;
}

/**
 * Generates the C99 sources of a policy (see `writeCPolicy`).
 * @throws Error naming the layer for an inconsistent model (`checkPolicyModel`) or a non-finite weight
 */
export function generateCPolicy(model: PolicyModel): CPolicySources {
  const { storages, report } = modelStorage(model);
  const width = Math.max(...model.layers.map((l) => l.outFeatures));
  const bufs = ['policy_buf0', 'policy_buf1'];
  const activations = new Set<string>();
  const arrays: string[] = [];
  const body: string[] = [];
  storages.forEach((s, k) => {
    const x = k === 0 ? 'obs' : bufs[(k - 1) % 2];
    const y = bufs[k % 2];
    const { arrays: a, call } = layerCode(s, k, x, y);
    arrays.push(a);
    body.push(`    ${call}`);
    const act = model.layers[k].activation;
    if (act !== 'linear') {
      activations.add(act);
      body.push(`    policy_${act}(${s.outFeatures}, ${y});`);
    }
  });
  const last = bufs[(storages.length - 1) % 2];
  const scale = Float32Array.from(model.actionLow, (lo, i) => (model.actionHigh[i] - lo) / 2);
  const guard = 'SPARSE_RL_POLICY_H';
  const header = `${headerComment(model, report, 'policy.h')}
#ifndef ${guard}
#define ${guard}

/* observation size (floats, env units) */
#define POLICY_OBS_DIM ${model.observationSize}
/* action size (floats, env units) */
#define POLICY_ACT_DIM ${model.actionSize}

#ifdef __cplusplus
extern "C" {
#endif

/* obs[POLICY_OBS_DIM] (env units) -> action[POLICY_ACT_DIM] (env units, within the Box bounds); batch 1 */
void policy_act(const float *obs, float *action);

#ifdef __cplusplus
}
#endif

#endif /* ${guard} */
`;
  const source = `${headerComment(model, report, 'policy.c')}
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include "policy.h"

${arrays.join('\n')}
/* action = low + (a + 1) * scale, scale = (high - low) / 2 */
${floats('policy_action_low', 'action low', model.actionLow)}${floats('policy_action_scale', 'action scale', scale)}
/* ping-pong scratch, sized by the widest layer (${width}) */
static float policy_buf0[${width}];
static float policy_buf1[${width}];

${kernelSource(storages, activations)}
void policy_act(const float *obs, float *action)
{
    int i;
${body.join('\n')}
    for (i = 0; i < POLICY_ACT_DIM; i++) {
        ${model.squash === 'tanh' ? `const float a = tanhf(${last}[${model.outputOffset} + i]);` : `const float a = ${last}[${model.outputOffset} + i];`}
        action[i] = (float)((double)policy_action_low[i] + ((double)a + 1.0) * (double)policy_action_scale[i]);
    }
}
`;
  return { header, source, report };
}

/**
 * Writes a policy as C99: `<dir>/policy.h` (`POLICY_OBS_DIM`, `POLICY_ACT_DIM`, `void
 * policy_act(const float *obs, float *action)`) and `<dir>/policy.c` (weights as `static const`
 * arrays in each layer's storage, `layerStorage`; one kernel per storage kind: dense, CSR,
 * N:M packed, block-circulant; ReLU and `tanhf`; two static ping-pong buffers sized by the widest
 * layer; no dynamic allocation, no dependency but `<math.h>`, `<stddef.h>`, `<stdint.h>`).
 * `policy_act` is batch 1, observation and action in env units (the output slice, squash and the
 * Box scaling are folded in), accumulates in float32 like the engine, and is not reentrant. Weights
 * are written with 9 significant digits (`cFloatLiteral`), so the compiled arrays are the
 * engine's float32 weights bit for bit. Both files start with a comment naming the source run,
 * env, sparsity and the size report. `dir` is created when missing.
 * @returns the two paths and the size report
 * @throws Error naming the layer for an inconsistent model or a non-finite weight; the file system's error naming the path
 */
export function writeCPolicy(model: PolicyModel, dir: string): { files: string[]; report: SizeReport } {
  const { header, source, report } = generateCPolicy(model);
  mkdirSync(dir, { recursive: true });
  const files = [join(dir, 'policy.h'), join(dir, 'policy.c')];
  writeFileSync(files[0], header);
  writeFileSync(files[1], source);
  return { files, report };
}
