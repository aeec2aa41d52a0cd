import type { Activation, AdamOptions, MlpSpec } from './engine.js';

/**
 * Argument checks shared by every engine (`native`, `tfjs`), so both reject the same inputs with
 * the same messages. Each throws a `TypeError`/`RangeError` naming the network or the option.
 */

const ACTIVATIONS: readonly Activation[] = ['relu', 'tanh', 'linear'];

/** @throws TypeError for a missing name; RangeError for < 2 layer sizes, a non-positive-integer size or an unknown activation */
export function checkMlpSpec(spec: MlpSpec): void {
  if (typeof spec.name !== 'string' || spec.name.length === 0) throw new TypeError('MlpSpec.name must be a non-empty string');
  const sizes = spec.layerSizes;
  if (!Array.isArray(sizes) || sizes.length < 2) throw new RangeError(`${spec.name}: layerSizes needs at least 2 entries, got ${JSON.stringify(sizes)}`);
  for (const s of sizes) {
    if (!Number.isInteger(s) || s < 1) throw new RangeError(`${spec.name}: layer sizes must be positive integers, got ${s}`);
  }
  for (const a of [spec.hiddenActivation, spec.outputActivation]) {
    if (!ACTIVATIONS.includes(a)) throw new RangeError(`${spec.name}: unknown activation '${String(a)}' (relu, tanh or linear)`);
  }
}

/**
 * Checks that `other` has `spec`'s layer sizes and activations (for `copyFrom` / `polyakFrom`).
 * @throws RangeError naming both networks and what differs
 */
export function checkSameShape(spec: MlpSpec, other: MlpSpec, op: string): void {
  const a = spec.layerSizes;
  const b = other.layerSizes;
  if (a.length !== b.length || a.some((n, i) => n !== b[i])) {
    throw new RangeError(`${spec.name}.${op}: layer sizes [${a.join(', ')}] differ from ${other.name}'s [${b.join(', ')}]`);
  }
  if (other.hiddenActivation !== spec.hiddenActivation || other.outputActivation !== spec.outputActivation) {
    throw new RangeError(`${spec.name}.${op}: activations differ from ${other.name}'s (${other.hiddenActivation}/${other.outputActivation})`);
  }
}

/** @throws RangeError unless `tau` ∈ [0, 1] */
export function checkTau(name: string, tau: number): void {
  if (!(tau >= 0 && tau <= 1)) throw new RangeError(`${name}.polyakFrom: tau must be in [0, 1], got ${tau}`);
}

/** @throws RangeError unless `index` is an integer in [0, layerCount) */
export function checkLayerIndex(name: string, index: number, layerCount: number): void {
  if (!Number.isInteger(index) || index < 0 || index >= layerCount) throw new RangeError(`${name}: layer index ${index} outside [0, ${layerCount})`);
}

/** @returns `lr` @throws RangeError unless finite and >= 0 */
export function checkLearningRate(lr: number): number {
  if (!(Number.isFinite(lr) && lr >= 0)) throw new RangeError(`Adam: lr must be a finite number >= 0, got ${lr}`);
  return lr;
}

/**
 * Adam options with PyTorch's defaults filled in (β₁ 0.9, β₂ 0.999, ε 1e-8, weight decay 0).
 * @throws RangeError naming the option: lr not finite ≥ 0, β outside [0, 1), ε or weight decay < 0
 */
export function resolveAdamOptions(options: AdamOptions): Required<AdamOptions> {
  const r = { lr: checkLearningRate(options.lr), beta1: options.beta1 ?? 0.9, beta2: options.beta2 ?? 0.999, eps: options.eps ?? 1e-8, weightDecay: options.weightDecay ?? 0 };
  for (const [k, v] of [['beta1', r.beta1], ['beta2', r.beta2]] as const) {
    if (!(v >= 0 && v < 1)) throw new RangeError(`Adam: ${k} must be in [0, 1), got ${v}`);
  }
  if (!(r.eps >= 0)) throw new RangeError(`Adam: eps must be >= 0, got ${r.eps}`);
  if (!(r.weightDecay >= 0)) throw new RangeError(`Adam: weightDecay must be >= 0, got ${r.weightDecay}`);
  return r;
}
