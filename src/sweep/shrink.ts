/**
 * Schedule shrinking: a recipe written for `totalSteps` T run at a budget of B env steps keeps
 * its schedule *shape* when every integer schedule constant of its sparsifier, replay buffer and
 * n-step target is scaled by B / T (topology-update intervals and end steps, pruning start / end,
 * n-step delay, buffer minimum size and check interval, …). Values are matched by option name
 * (interval, step, delay, warm-up, ramp end, minimum size, stop); an object under such a name
 * (`endStep: { actor, critic }`) has all its integers scaled. Other options (sparsities, GST's
 * `cooldown`, which counts evaluations) are kept. Each scaled value is at least 1.
 */

type Json = Record<string, unknown>;

/** Option names that hold an env-step schedule constant. */
const SCHEDULE_KEY = /(interval|step|delay|warm|rampend|minsize|stopat)/i;

/** Sections whose schedule constants are scaled. */
const SECTIONS: readonly (readonly string[])[] = [['sparsifier'], ['replayBuffer'], ['agent', 'nStep']];

/** Default `totalSteps` of a config without one (the envelope schema's default). */
export const DEFAULT_TOTAL_STEPS = 1_000_000;

/** One scaled value: where, before, after. */
export interface ScaledValue {
  /** Path in override form: `sparsifier.topologyUpdate.endStep.actor`, `x.y[0]`. */
  readonly path: string;
  readonly from: number;
  readonly to: number;
}

const childPath = (path: string, key: string, array: boolean) => (array ? `${path}[${key}]` : path ? `${path}.${key}` : key);

/**
 * The schedule constants of `raw` (a config's JSON, not modified) scaled from its `totalSteps`
 * (default {@link DEFAULT_TOTAL_STEPS}) to `totalSteps`: every value that changes, in document order.
 */
export function scaledSchedule(raw: unknown, totalSteps: number): ScaledValue[] {
  const config = (raw ?? {}) as Json;
  const from = typeof config.totalSteps === 'number' && config.totalSteps > 0 ? config.totalSteps : DEFAULT_TOTAL_STEPS;
  const factor = totalSteps / from;
  const out: ScaledValue[] = [];
  const visit = (node: unknown, path: string, inherited: boolean) => {
    if (!node || typeof node !== 'object') return;
    const array = Array.isArray(node);
    for (const [k, v] of Object.entries(node as Json)) {
      const hit = inherited || (!array && SCHEDULE_KEY.test(k));
      const p = childPath(path, k, array);
      if (typeof v === 'number' && Number.isInteger(v) && hit) {
        const to = Math.max(1, Math.round(v * factor));
        if (to !== v) out.push({ path: p, from: v, to });
      } else if (v && typeof v === 'object') {
        visit(v, p, hit);
      }
    }
  };
  for (const section of SECTIONS) {
    let node: unknown = config;
    for (const key of section) node = node && typeof node === 'object' ? (node as Json)[key] : undefined;
    visit(node, section.join('.'), false);
  }
  return out;
}

/**
 * `raw` (not modified) shrunk to `totalSteps`: its schedule constants scaled by
 * {@link scaledSchedule} and `totalSteps` set.
 */
export function shrinkSchedules<T>(raw: T, totalSteps: number): T {
  const copy = structuredClone(raw) as Json;
  for (const { path, to } of scaledSchedule(raw, totalSteps)) {
    const segments = path.split(/\.|\[(\d+)\]/).filter((s) => s !== undefined && s !== '');
    let node = copy as Json;
    for (const s of segments.slice(0, -1)) node = node[s] as Json;
    node[segments[segments.length - 1]] = to;
  }
  copy.totalSteps = totalSteps;
  return copy as T;
}

/** The overrides (`PATH=VALUE`, as `--set` takes them) that shrink `raw`'s schedule to `totalSteps` (without `totalSteps` itself). */
export function shrinkOverrides(raw: unknown, totalSteps: number): string[] {
  return scaledSchedule(raw, totalSteps).map(({ path, to }) => `${path}=${to}`);
}
