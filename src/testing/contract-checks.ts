import type { NetworkGroup } from '../core/network-group.js';
import type { Mlp } from '../nn/engine.js';

/**
 * The contract checks of `sparse-rl/testing`, as functions of the agent's network groups. Each
 * returns null when the check holds, else one sentence saying what is wrong and where.
 */

/** Zeros of the masks over all weights of a group's online networks (unmasked layers count as dense). */
export function groupSparsity(group: NetworkGroup): { zeros: number; count: number; layers: number } {
  let zeros = 0;
  let count = 0;
  let layers = 0;
  for (const net of group.networks) {
    for (const l of net.layers) {
      layers++;
      count += l.weight.length;
      if (!l.mask) continue;
      for (let i = 0; i < l.mask.length; i++) if (l.mask[i] === 0) zeros++;
    }
  }
  return { zeros, count, layers };
}

/**
 * (a) Declared sparsity: for every group with an expectation, the fraction of masked weights of
 * its online networks equals it within `tolerance` (default: one weight per layer over the group's
 * weight count, the rounding of per-layer counts `N − ⌊S_l·N⌋`).
 * @returns the per-group measurements (for the report) and the first failure, or null
 */
export function checkSparsity(groups: readonly NetworkGroup[], expected: Readonly<Record<string, number>>, tolerance?: number): { detail: string; failure: string | null } {
  const parts: string[] = [];
  for (const [name, want] of Object.entries(expected)) {
    const group = groups.find((g) => g.name === name);
    if (!group) return { detail: '', failure: `expected a sparsity for group "${name}", but the agent has groups ${groups.map((g) => g.name).join(', ')}` };
    const { zeros, count, layers } = groupSparsity(group);
    const got = zeros / count;
    const tol = tolerance ?? layers / count + 1e-12;
    const text = `${name} ${got.toFixed(4)} (expected ${want}, ±${tol.toPrecision(2)})`;
    if (!(Math.abs(got - want) <= tol)) return { detail: '', failure: `group ${name} has sparsity ${got.toFixed(6)} (${zeros} of ${count} weights masked), expected ${want} ± ${tol.toPrecision(3)}` };
    parts.push(text);
  }
  return { detail: parts.join(', '), failure: null };
}

/** (b, weights) Every weight of an online network is exactly 0 where its layer's mask is 0. */
export function checkMaskedWeights(groups: readonly NetworkGroup[]): string | null {
  for (const g of groups) for (const net of g.networks) {
    const bad = maskedNonZero(net);
    if (bad) return bad;
  }
  return null;
}

function maskedNonZero(net: Mlp, mask?: (k: number) => Float32Array | null): string | null {
  for (let k = 0; k < net.layers.length; k++) {
    const l = net.layers[k];
    const m = mask ? mask(k) : l.mask;
    if (!m) continue;
    for (let i = 0; i < m.length; i++) {
      if (m[i] === 0 && l.weight[i] !== 0) return `${l.name}.weight[${i}] is ${l.weight[i]} where ${mask ? 'the mask' : 'its mask'} is 0`;
    }
  }
  return null;
}

/** How `checkAdamMoments` treats the Adam moments m, v of masked weights. */
export type AdamMomentsRule = 'zero' | 'decaying' | 'skip';

/**
 * (b, optimizer) The Adam moments of masked weights, online networks, checked after every update
 * (`update` below): `zero` — m = v = 0 exactly at every masked position; `decaying` — exactly 0 at
 * positions masked ever since `initialize`, and at positions masked at two consecutive checks
 * |m| and v did not grow (no gradient reached them: they only decay, as for methods that keep
 * the moments of dropped weights, docs/methods.md §1.b.10); `skip` — not checked.
 */
export class AdamMomentTracker {
  private readonly layers = new Map<string, { everActive: Uint8Array; masked: Uint8Array; m: Float32Array; v: Float32Array }>();

  constructor(private readonly rule: AdamMomentsRule) {}

  /** Checks every online masked layer and records what the next check compares against. */
  update(groups: readonly NetworkGroup[]): string | null {
    if (this.rule === 'skip') return null;
    let failure: string | null = null;
    for (const g of groups) {
      g.networks.forEach((net, n) => {
        const opt = g.optimizers[n];
        if (!opt) return;
        net.layers.forEach((l) => {
          const key = `${l.name}.weight`;
          const moments = opt.state.get(key);
          if (!moments) {
            failure ??= `the optimizer of ${net.spec.name} has no Adam state for ${key}`;
            return;
          }
          const { m, v } = moments;
          const n = l.weight.length;
          let rec = this.layers.get(key);
          if (!rec) {
            rec = { everActive: new Uint8Array(n), masked: new Uint8Array(n), m: new Float32Array(n), v: new Float32Array(n) };
            this.layers.set(key, rec);
          }
          const mask = l.mask;
          for (let i = 0; i < n; i++) {
            const masked = mask !== null && mask[i] === 0;
            if (masked && failure === null) {
              if (this.rule === 'zero' || !rec.everActive[i]) {
                if (m[i] !== 0 || v[i] !== 0) {
                  failure = `Adam moments of ${key}[${i}] are m = ${m[i]}, v = ${v[i]} where the mask is 0${this.rule === 'decaying' ? ' and the weight was never active' : ''} (they must be exactly 0)`;
                }
              } else if (rec.masked[i] && (Math.abs(m[i]) > Math.abs(rec.m[i]) || v[i] > rec.v[i])) {
                failure = `Adam moments of ${key}[${i}] grew while it stayed masked (m ${rec.m[i]} → ${m[i]}, v ${rec.v[i]} → ${v[i]}): a gradient reached a masked weight`;
              }
            }
            if (!masked) rec.everActive[i] = 1;
            rec.masked[i] = masked ? 1 : 0;
          }
          rec.m.set(m);
          rec.v.set(v);
        });
      });
    }
    return failure;
  }
}

/**
 * (c) Targets consistent with `targetMasks`: `online` — each target layer's mask equals its
 * online layer's mask (both absent for a dense layer) and the target's weights are 0 where it is
 * 0; `own` — the target's weights are 0 where the target's own mask is 0.
 */
export function checkTargets(groups: readonly NetworkGroup[], targetMasks: 'online' | 'own'): string | null {
  for (const g of groups) {
    for (let n = 0; n < g.targets.length; n++) {
      const target = g.targets[n];
      const online = g.networks[n];
      if (targetMasks === 'own') {
        const bad = maskedNonZero(target);
        if (bad) return `target ${target.spec.name}: ${bad} (targetMasks 'own')`;
        continue;
      }
      for (let k = 0; k < online.layers.length; k++) {
        const om = online.layers[k].mask;
        const tm = target.layers[k].mask;
        const name = `${target.layers[k].name}.weight`;
        if ((om === null) !== (tm === null)) {
          return `target ${name} ${tm ? 'has a mask' : 'has no mask'} but online ${online.layers[k].name}.weight ${om ? 'has one' : 'is dense'} (targetMasks 'online': targets share the online masks)`;
        }
        if (om && tm) {
          for (let i = 0; i < om.length; i++) {
            if (om[i] !== tm[i]) return `target mask ${name}[${i}] is ${tm[i]} but the online mask is ${om[i]} (targetMasks 'online': targets share the online masks)`;
          }
        }
      }
      const bad = maskedNonZero(target);
      if (bad) return `target ${target.spec.name}: ${bad}`;
    }
  }
  return null;
}

/**
 * (d, serialisable) The first place where `value` is not plain JSON data (what `JSON.stringify`
 * would drop, change or throw on): functions, symbols, bigints, non-finite numbers, `undefined`
 * in arrays, typed arrays, Maps, Sets, Dates and other class instances; null when it is JSON.
 */
export function notJson(value: unknown, path = 'state()'): string | null {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return null;
    case 'number':
      return Number.isFinite(value) ? null : `${path} is ${value} (JSON writes null)`;
    case 'undefined':
      return `${path} is undefined (not JSON)`;
    case 'object': {
      if (value === null) return null;
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) {
          const bad = notJson(value[i], `${path}[${i}]`);
          if (bad) return bad;
        }
        return null;
      }
      const proto = Object.getPrototypeOf(value) as unknown;
      if (proto !== Object.prototype && proto !== null) {
        const kind = (value as { constructor?: { name?: string } }).constructor?.name ?? 'object';
        return `${path} is a ${kind}, not a plain object (JSON.stringify ${ArrayBuffer.isView(value) ? 'writes its indices as keys' : 'drops its contents or changes its type'})`;
      }
      for (const [k, v] of Object.entries(value)) {
        if (v === undefined) continue; // dropped by JSON, like an absent key
        const bad = notJson(v, `${path}.${k}`);
        if (bad) return bad;
      }
      return null;
    }
    default:
      return `${path} is a ${typeof value} (not JSON)`;
  }
}

/** The first path where two JSON values differ (object key order ignored), or null. */
export function jsonDifference(a: unknown, b: unknown, path = 'state()'): string | null {
  if (a === b) return null;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null || Array.isArray(a) !== Array.isArray(b)) {
    return `${path}: ${brief(a)} vs ${brief(b)}`;
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length !== b.length) return `${path}: length ${a.length} vs ${b.length}`;
    for (let i = 0; i < a.length; i++) {
      const d = jsonDifference(a[i], b[i], `${path}[${i}]`);
      if (d) return d;
    }
    return null;
  }
  const ao = a as Record<string, unknown>;
  const bo = b as Record<string, unknown>;
  const keys = [...new Set([...Object.keys(ao), ...Object.keys(bo)])].filter((k) => ao[k] !== undefined || bo[k] !== undefined).sort();
  for (const k of keys) {
    const d = jsonDifference(ao[k], bo[k], `${path}.${k}`);
    if (d) return d;
  }
  return null;
}

function brief(v: unknown): string {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

/** Default prefixes of sparsifier metric keys (docs/architecture.md, metric keys). */
export const METRIC_PREFIXES: readonly string[] = ['sparsity/', 'topology/', 'pruning/', 'nm/', 'gst/', 'flops/', 'compression/'];

/**
 * (e) Metrics: an object of finite numbers whose keys all start with one of `prefixes`; with
 * `requireTotal`, `sparsity/total` is present and in [0, 1].
 */
export function checkMetrics(metrics: unknown, prefixes: readonly string[], requireTotal: boolean, what = 'metrics()'): string | null {
  if (!metrics || typeof metrics !== 'object' || Array.isArray(metrics)) return `${what} returned ${brief(metrics)}, not an object of numbers`;
  for (const [k, v] of Object.entries(metrics)) {
    if (typeof v !== 'number' || !Number.isFinite(v)) return `${what}["${k}"] is ${brief(v)}, not a finite number`;
    if (!prefixes.some((p) => k.startsWith(p))) return `${what} key "${k}" has none of the prefixes ${prefixes.join(', ')}`;
  }
  if (requireTotal) {
    const total = (metrics as Record<string, number>)['sparsity/total'];
    if (total === undefined) return `${what} has no "sparsity/total"`;
    if (!(total >= 0 && total <= 1)) return `${what}["sparsity/total"] is ${total}, outside [0, 1]`;
  }
  return null;
}

/** Every tensor of every network (online and target): weights, biases and masks, as bytes. */
export function snapshot(groups: readonly NetworkGroup[]): Map<string, Uint8Array | null> {
  const out = new Map<string, Uint8Array | null>();
  const bytes = (a: Float32Array) => new Uint8Array(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength));
  for (const g of groups) {
    for (const net of [...g.networks, ...g.targets]) {
      for (const l of net.layers) {
        out.set(`${l.name}.weight`, bytes(l.weight));
        out.set(`${l.name}.bias`, bytes(l.bias));
        out.set(`${l.name}.mask`, l.mask ? bytes(l.mask) : null);
      }
    }
  }
  return out;
}

/** (f) The first tensor whose bits differ between two snapshots, or null. */
export function snapshotDifference(a: Map<string, Uint8Array | null>, b: Map<string, Uint8Array | null>): string | null {
  for (const [name, x] of a) {
    if (!b.has(name)) return `${name} exists in the first run only`;
    const y = b.get(name)!;
    if (x === null || y === null) {
      if (x !== y) return `${name}: ${x ? 'present' : 'absent (dense layer)'} in the first run, ${y ? 'present' : 'absent (dense layer)'} in the second`;
      continue;
    }
    if (x.length !== y.length) return `${name}: ${x.length / 4} vs ${y.length / 4} entries`;
    for (let i = 0; i < x.length; i += 4) {
      if (x[i] !== y[i] || x[i + 1] !== y[i + 1] || x[i + 2] !== y[i + 2] || x[i + 3] !== y[i + 3]) {
        const f = (u: Uint8Array) => new Float32Array(u.buffer, u.byteOffset + i, 1)[0];
        return `${name}[${i / 4}] is ${f(x)} in the first run and ${f(y)} in the second`;
      }
    }
  }
  for (const name of b.keys()) if (!a.has(name)) return `${name} exists in the second run only`;
  return null;
}
