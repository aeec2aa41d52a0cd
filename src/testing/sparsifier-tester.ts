import { performance } from 'node:perf_hooks';
import { Agent } from '../core/agent.js';
import type { EnvironmentSpec, BoxSpace } from '../core/environment.js';
import type { NetworkGroup } from '../core/network-group.js';
import { ReplayBuffer } from '../core/replay-buffer.js';
import { Sparsifier, type SparsifierHooks } from '../core/sparsifier.js';
import type { ExperimentConfig, PluginSection } from '../config/experiment-config.js';
import { ConfigValidator, formatIssue } from '../config/validate.js';
import type { Engine } from '../nn/engine.js';
import { createEngine } from '../nn/engines.js';
import { nativeEngineAvailable } from '../nn/native-engine.js';
import { pluginType, type PluginManifest } from '../plugin/plugin-manifest.js';
import type { PluginRegistry } from '../plugin/plugin-registry.js';
import { RunContainer } from '../plugin/run-container.js';
import { Rng } from '../util/rng.js';
import {
  AdamMomentTracker, checkMaskedWeights, checkMetrics, checkSparsity, checkTargets, jsonDifference, METRIC_PREFIXES, notJson, snapshot, snapshotDifference,
  type AdamMomentsRule,
} from './contract-checks.js';
import { loadPluginUnderTest, type PluginUnderTest } from './plugin-under-test.js';

/** The engines the tester can run on. */
export type TesterEngine = 'native' | 'tfjs';

/**
 * The checks of the sparsifier contract, in the order they run:
 * - `config` — the options validate against the plugin's schema in a full experiment config;
 * - `run` — building the run, `initialize` and the updates complete without an exception;
 * - `masked-weights` (b) — after `initialize` and after every update, every masked weight of an
 *   online network is exactly 0, and the Adam moments m, v at masked positions follow
 *   `adamMoments` (default: exactly 0);
 * - `targets` (c) — after `initialize` and after every update, targets agree with `targetMasks`;
 * - `sparsity` (a) — at the end, each group's fraction of masked weights is the declared one;
 * - `metrics` (e) — `metrics()` (and every `takeUpdateMetrics()`) is finite numbers under the
 *   allowed prefixes, with `sparsity/total`;
 * - `state` (d) — `state()` is JSON data and a fresh instance restores it exactly;
 * - `determinism` (f) — a second run with the same seed is bit-identical.
 */
export type ContractCheck = 'config' | 'run' | 'masked-weights' | 'targets' | 'sparsity' | 'metrics' | 'state' | 'determinism';

/** Options of `testSparsifier`. */
export interface SparsifierTestOptions {
  /** The sparsifier's config section without `type` (validated against its schema; defaults filled). Default `{}`. */
  readonly options?: Readonly<Record<string, unknown>>;
  /** Agent plugin types to run under (resolved through the registry). Default `['td3', 'sac']`. */
  readonly agents?: readonly string[];
  /**
   * Engines to run on. Default `['native', 'tfjs']`. Where the native addon is not built, the
   * native runs are **skipped** and reported as such (`status: 'skipped'` with a note), unless
   * `requireNative` makes that an error.
   */
  readonly engines?: readonly TesterEngine[];
  /** Throw instead of skipping when `native` is asked for and its addon is not built. Default false. */
  readonly requireNative?: boolean;
  /** Gradient updates per run (`agent.update` calls). Methods with schedules need enough to pass their end. Default 40. */
  readonly updates?: number;
  /**
   * Expected fraction of masked weights per network group at the end (`{ actor: 0.9, critic: 0.8 }`).
   * Default: `<group>Sparsity` of the validated options (`actorSparsity`, `criticSparsity`) where the
   * method declares it; `false` turns the check off. Without either, the check is reported not
   * applicable. A function gives the expectation per agent type (network shapes differ: SAC's actor
   * has 2·|A| outputs).
   */
  readonly expectSparsity?: Readonly<Record<string, number>> | false | ((agent: string) => Readonly<Record<string, number>> | false);
  /** Allowed |measured − expected| sparsity. Default: one weight per layer over the group's weight count (per-layer rounding). */
  readonly sparsityTolerance?: number;
  /**
   * What the Adam moments at masked positions must be (online networks): `zero` (default) —
   * exactly 0; `decaying` — exactly 0 where the weight was never active, and never growing while a
   * weight stays masked (methods that keep a dropped weight's moments, as RLx2's code does);
   * `skip` — not checked (methods that train masked entries on purpose, e.g. straight-through estimators).
   */
  readonly adamMoments?: AdamMomentsRule;
  /** Extra allowed prefixes of metric keys besides `sparsity/`, `topology/`, `pruning/`, `nm/`, `gst/`, `flops/`, `compression/` and `<type>/`. */
  readonly metricPrefixes?: readonly string[];
  /**
   * Call `onEvaluation(meanReturn, update)` every this many updates (reward-driven methods).
   * Default: never.
   */
  readonly evaluateEvery?: number;
  /** The mean return reported to the k-th evaluation (k = 1, 2, …). Default `k ↦ 10·k` (a steadily improving agent). */
  readonly evaluationReturn?: (k: number) => number;
  /** Run seed (`config.seed`). Default 1. */
  readonly seed?: number;
  /** Hidden layer widths of actor and critics. Default `[32, 32]`. */
  readonly hiddenSizes?: readonly number[];
  /** Minibatch size. Default 32. */
  readonly batchSize?: number;
  /** Extra agent options per agent type, e.g. `{ td3: { policyDelay: 1 } }`. */
  readonly agentOptions?: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
  /** Random transitions put in the replay buffer. Default 256. */
  readonly transitions?: number;
  /** Observation size of the Box observation space (no environment is started). Default 11. */
  readonly observationSize?: number;
  /** Action size of the Box action space in [-1, 1]. Default 3. */
  readonly actionSize?: number;
  /** The `runtime.backend` of the tfjs runs. Default `auto`. */
  readonly tfjsBackend?: 'auto' | 'tensorflow' | 'wasm' | 'cpu';
  /** The `runtime.threads` of the native runs. Default 1. */
  readonly threads?: number;
  /** The config's `environment` section (validated, never started). Default `{ type: 'gymnasium', id: 'SparsifierTester-v0' }`. */
  readonly environment?: PluginSection;
  /** Where a module path or package name given as the plugin resolves from. Default the working directory. */
  readonly baseDir?: string;
}

/** The outcome of one check of one run. */
export interface CheckOutcome {
  readonly check: ContractCheck;
  /** `not-applicable`: nothing to check (e.g. no declared sparsity); `detail` says why. */
  readonly status: 'passed' | 'not-applicable';
  readonly detail: string;
}

/** One agent × engine run of the tester. */
export interface SparsifierTestRun {
  readonly agent: string;
  readonly engine: TesterEngine;
  /** `skipped`: the engine is not available here (`note` says why); nothing was checked. */
  readonly status: 'passed' | 'skipped';
  /** The engine's description, or why the run was skipped. */
  readonly note: string;
  readonly checks: readonly CheckOutcome[];
  /** `metrics(groups)` at the end of the updates (empty when skipped): for method-specific assertions. */
  readonly metrics: Readonly<Record<string, number>>;
  /**
   * Mask entries of the online networks that differ between the end of `initialize` and the end
   * of the updates (a dense layer counts as all ones): > 0 shows the method's topology moved.
   */
  readonly maskChanges: number;
  /** Wall-clock seconds of the run's checks. */
  readonly seconds: number;
}

/** What `testSparsifier` returns when every run passed. */
export interface SparsifierTestReport {
  /** The plugin id, e.g. `sparsifier.rigl`. */
  readonly plugin: string;
  readonly runs: readonly SparsifierTestRun[];
  /** Runs that ran and passed every check. */
  readonly passed: number;
  /** Runs skipped because their engine is not available (never counted as passed). */
  readonly skipped: number;
  /** One line per run, e.g. `td3 × tfjs: passed (sparsity, masked-weights, …) in 0.8 s`. */
  readonly summary: string;
}

/** A failed check: the message names the plugin, the agent, the engine and the check. */
export class SparsifierContractError extends Error {
  constructor(
    readonly plugin: string,
    readonly agent: string,
    readonly engine: TesterEngine,
    readonly check: ContractCheck,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`sparsifier contract: ${plugin} with agent ${agent} on engine ${engine} fails check "${check}": ${reason}`, options);
    this.name = 'SparsifierContractError';
  }
}

/** One built run: the container's agent, sparsifier (guarded, defaults filled) and buffer. */
interface BuiltRun {
  readonly agent: Agent;
  readonly sparsifier: SparsifierHooks;
  readonly buffer: ReplayBuffer;
  readonly groups: readonly NetworkGroup[];
  readonly container: RunContainer;
}

/**
 * Tests a sparsifier plugin against the contract of the `Sparsifier` extension point, as ESLint's
 * `RuleTester` tests a rule: for each agent × engine it validates a config with the plugin's
 * options (tiny networks, no environment: Box spaces of `observationSize` and `actionSize`), builds
 * the run's object graph with `RunContainer`, fills the replay buffer with seeded random
 * transitions, runs `updates` gradient updates and checks (see `ContractCheck`):
 *
 * - **(a) sparsity** — at the end, each group's fraction of masked weights (online networks) equals
 *   the declared one (`actorSparsity` / `criticSparsity`, or `expectSparsity`) within the rounding
 *   of per-layer counts;
 * - **(b) masked-weights** — after `initialize` and every update, every masked weight is exactly 0,
 *   and the Adam moments at masked positions are exactly 0 (or obey `adamMoments`);
 * - **(c) targets** — `targetMasks: 'online'` (default): every target layer has exactly its online
 *   layer's mask and zero weights where it is 0; `'own'`: target weights are 0 where the target's own mask is 0;
 * - **(d) state** — `state()` is plain JSON data, and a fresh instance of the run (initialised, its
 *   networks and Adam state copied from the first, as a checkpoint restores them) given
 *   `loadState(JSON.parse(JSON.stringify(state)))` returns an equal `state()`;
 * - **(e) metrics** — `metrics(groups)` and every `takeUpdateMetrics()` return finite numbers with
 *   keys under `sparsity/` or a method prefix, `sparsity/total` in [0, 1];
 * - **(f) determinism** — a second run with the same seed ends with bit-identical weights, biases
 *   and masks of every network (online and target).
 *
 * @param plugin the plugin's manifest (or its module namespace), or a module path / package name
 *   (resolved from `options.baseDir`)
 * @returns the report (every run that ran passed; skipped runs say why)
 * @throws SparsifierContractError at the first failed check, naming plugin, agent, engine and check
 * @throws Error when the plugin cannot be loaded, is not a sparsifier, or `native` is required but not built
 * @example
 * import { testSparsifier } from 'sparse-rl/testing';
 * import plugin from './index.js';
 * const report = await testSparsifier(plugin, { options: { actorSparsity: 0.9, criticSparsity: 0.9 } });
 * console.log(report.summary);
 */
export async function testSparsifier(plugin: PluginUnderTest, options: SparsifierTestOptions = {}): Promise<SparsifierTestReport> {
  const { registry, manifest } = await loadPluginUnderTest(plugin, options.baseDir ?? process.cwd());
  const validator = new ConfigValidator(registry);
  const runs: SparsifierTestRun[] = [];
  const engines = options.engines ?? ['native', 'tfjs'];
  const agents = options.agents ?? ['td3', 'sac'];
  for (const engineName of engines) {
    if (engineName !== 'native' && engineName !== 'tfjs') throw new Error(`sparse-rl/testing: unknown engine "${String(engineName)}" (native or tfjs)`);
    if (engineName === 'native' && !nativeEngineAvailable()) {
      const note = 'skipped: the native engine is not built here (npm run build:native)';
      if (options.requireNative) throw new Error(`sparse-rl/testing: ${manifest.id}: ${note}, and requireNative is set`);
      for (const agent of agents) runs.push({ agent, engine: engineName, status: 'skipped', note, checks: [], metrics: {}, maskChanges: 0, seconds: 0 });
      continue;
    }
    const runtime = { engine: engineName, backend: options.tfjsBackend ?? 'auto', threads: options.threads ?? 1 } as const;
    const engine = await createEngine(runtime);
    for (const agent of agents) runs.push(await testOne(manifest, registry, validator, agent, engine, engineName, options));
  }
  const passed = runs.filter((r) => r.status === 'passed').length;
  const summary = runs
    .map((r) => `${r.agent} × ${r.engine}: ${r.status === 'skipped' ? r.note : `passed (${r.checks.map((c) => (c.status === 'passed' ? c.check : `${c.check} n/a`)).join(', ')}) in ${r.seconds.toFixed(1)} s`}`)
    .join('\n');
  return { plugin: manifest.id, runs, passed, skipped: runs.length - passed, summary };
}

/** The raw experiment config of one tester run (validated by the caller). */
function rawConfig(manifest: PluginManifest, registry: PluginRegistry, agent: string, runtime: { engine: TesterEngine; backend: string; threads: number }, o: SparsifierTestOptions): Record<string, unknown> {
  const agentSchema = registry.get(`agent.${agent}`).optionsSchema as { properties?: Record<string, unknown> };
  const has = (p: string) => Object.hasOwn(agentSchema.properties ?? {}, p);
  const agentSection: Record<string, unknown> = { type: agent };
  if (has('hiddenSizes')) agentSection.hiddenSizes = [...(o.hiddenSizes ?? [32, 32])];
  if (has('batchSize')) agentSection.batchSize = o.batchSize ?? 32;
  if (has('learningStarts')) agentSection.learningStarts = 0;
  Object.assign(agentSection, o.agentOptions?.[agent] ?? {});
  return {
    name: 'sparsifier-tester',
    seed: o.seed ?? 1,
    totalSteps: Math.max(1, o.updates ?? 40),
    environment: o.environment ?? { type: 'gymnasium', id: 'SparsifierTester-v0' },
    agent: agentSection,
    sparsifier: { ...(o.options ?? {}), type: pluginType(manifest.id) },
    replayBuffer: { type: 'uniform', capacity: Math.max(1, o.transitions ?? 256) },
    runtime,
  };
}

/** The spaces runs are sized by: Box observations (unbounded) and Box actions in [-1, 1]. */
function testSpec(o: SparsifierTestOptions): EnvironmentSpec {
  const obs = o.observationSize ?? 11;
  const act = o.actionSize ?? 3;
  const box = (n: number, low: number, high: number): BoxSpace => ({ type: 'box', shape: [n], dtype: 'float32', low: new Array<number>(n).fill(low), high: new Array<number>(n).fill(high) });
  return {
    envId: 'sparse-rl/testing', observationSpace: box(obs, -Infinity, Infinity), actionSpace: box(act, -1, 1),
    observationSize: obs, actionSize: act, numEnvs: 1,
  };
}

async function testOne(
  manifest: PluginManifest, registry: PluginRegistry, validator: ConfigValidator, agentType: string, engine: Engine, engineName: TesterEngine, o: SparsifierTestOptions,
): Promise<SparsifierTestRun> {
  const t0 = performance.now();
  const fail = (check: ContractCheck, reason: string, cause?: unknown): never => {
    throw new SparsifierContractError(manifest.id, agentType, engineName, check, reason, cause === undefined ? undefined : { cause });
  };
  const guard = async <T>(what: string, f: () => T | Promise<T>): Promise<T> => {
    try {
      return await f();
    } catch (e) {
      if (e instanceof SparsifierContractError) throw e;
      return fail('run', `${what} threw: ${(e as Error).message}`, e);
    }
  };
  const checks: CheckOutcome[] = [];
  const pass = (check: ContractCheck, detail: string) => checks.push({ check, status: 'passed', detail });

  // config: the options, validated as part of a whole experiment
  const runtime = { engine: engineName, backend: o.tfjsBackend ?? 'auto', threads: o.threads ?? 1 };
  const validated = validator.validate(rawConfig(manifest, registry, agentType, runtime, o));
  if (!validated.config) return fail('config', `the test config is invalid:\n  ${validated.issues.map(formatIssue).join('\n  ')}`);
  const config = validated.config;
  pass('config', `sparsifier ${JSON.stringify(config.sparsifier)}`);
  const updates = o.updates ?? 40;
  const spec = testSpec(o);

  const build = (what: string) => guard(`${what}: building the run (agent construction calls initialize)`, async (): Promise<BuiltRun> => {
    const container = new RunContainer(config, registry, { environmentSpec: spec, engine });
    const agent = await container.get<Agent>(Agent);
    const sparsifier = await container.get<SparsifierHooks>(Sparsifier);
    const buffer = await container.get<ReplayBuffer>(ReplayBuffer);
    agent.checkReplayBuffer?.(buffer);
    fillBuffer(buffer, config.seed, o.transitions ?? 256, spec);
    return { agent, sparsifier, buffer, groups: agent.groups, container };
  });
  const prefixes = [...METRIC_PREFIXES, `${pluginType(manifest.id)}/`, ...(o.metricPrefixes ?? [])];
  const evalReturn = o.evaluationReturn ?? ((k: number) => 10 * k);
  const train = async (run: BuiltRun, onUpdate?: (u: number) => void) => {
    let evaluations = 0;
    for (let u = 1; u <= updates; u++) {
      await guard(`update ${u}`, () => run.agent.update(run.buffer));
      const drained = await guard(`takeUpdateMetrics after update ${u}`, () => run.sparsifier.takeUpdateMetrics?.() ?? null);
      if (drained !== null) {
        const bad = checkMetrics(drained, prefixes, false, 'takeUpdateMetrics()');
        if (bad) fail('metrics', `${bad} (after update ${u})`);
      }
      if (o.evaluateEvery && u % o.evaluateEvery === 0) {
        const k = ++evaluations;
        await guard(`onEvaluation after update ${u}`, () => run.sparsifier.onEvaluation(evalReturn(k), u));
      }
      onUpdate?.(u);
    }
  };

  // run A: (b) and (c) after initialize and after every update
  const a = await build('first run');
  const targetMasks = a.sparsifier.targetMasks ?? 'online';
  if (targetMasks !== 'online' && targetMasks !== 'own') fail('targets', `targetMasks is ${JSON.stringify(targetMasks)}; it must be 'online' or 'own'`);
  const moments = new AdamMomentTracker(o.adamMoments ?? 'zero');
  const invariants = (when: string) => {
    const w = checkMaskedWeights(a.groups) ?? moments.update(a.groups);
    if (w) fail('masked-weights', `${w} (${when})`);
    const t = checkTargets(a.groups, targetMasks);
    if (t) fail('targets', `${t} (${when})`);
  };
  invariants('after initialize');
  const initialMasks = onlineMasks(a.groups);
  await train(a, (u) => invariants(`after update ${u}`));
  const maskChanges = countChanges(initialMasks, onlineMasks(a.groups));
  pass('masked-weights', `masked weights exactly 0${o.adamMoments === 'skip' ? '' : `, Adam moments ${o.adamMoments === 'decaying' ? 'decaying' : 'exactly 0'} at masked positions`}, after initialize and each of ${updates} updates`);
  pass('targets', `targetMasks '${targetMasks}' held after initialize and each update`);

  // (a) declared sparsity at the end
  const expectation = typeof o.expectSparsity === 'function' ? o.expectSparsity(agentType) : o.expectSparsity;
  const expected = expectation === false ? null : expectation ?? declaredSparsity(config.sparsifier, a.groups);
  if (expected && Object.keys(expected).length > 0) {
    const r = checkSparsity(a.groups, expected, o.sparsityTolerance);
    if (r.failure) fail('sparsity', `${r.failure} (after ${updates} updates)`);
    pass('sparsity', r.detail);
  } else {
    checks.push({
      check: 'sparsity', status: 'not-applicable',
      detail: expectation === false ? 'turned off (expectSparsity: false)' : `the options declare no ${a.groups.map((g) => `${g.name}Sparsity`).join(' / ')}; pass expectSparsity to check one`,
    });
  }

  // (e) metrics
  const metrics = await guard('metrics', () => a.sparsifier.metrics(a.groups));
  const badMetrics = checkMetrics(metrics, prefixes, true);
  if (badMetrics) fail('metrics', badMetrics);
  pass('metrics', `${Object.keys(metrics).length} keys, all finite, sparsity/total ${metrics['sparsity/total'].toFixed(4)}`);

  // (d) state round trip into a fresh, initialised instance with the first run's networks
  const state = await guard('state', () => a.sparsifier.state());
  const badState = notJson(state);
  if (badState) fail('state', `state() is not JSON data: ${badState}`);
  const json = JSON.stringify(state);
  const fresh = await build('fresh instance');
  copyNetworks(a.groups, fresh.groups);
  await guard('loadState on a fresh instance', () => fresh.sparsifier.loadState(JSON.parse(json)));
  const restored = await guard('state of the restored instance', () => fresh.sparsifier.state());
  const badRestored = notJson(restored, 'restored state()');
  if (badRestored) fail('state', `after loadState, state() is not JSON data: ${badRestored}`);
  const diff = jsonDifference(JSON.parse(json), JSON.parse(JSON.stringify(restored)));
  if (diff) fail('state', `a fresh instance given loadState(state) returns a different state(): ${diff} (original vs restored)`);
  pass('state', `${json.length} bytes of JSON, restored exactly`);

  // (f) determinism: a second run with the same seed
  const first = snapshot(a.groups);
  const b = await build('second run');
  await train(b);
  const d = snapshotDifference(first, snapshot(b.groups));
  if (d) fail('determinism', `two runs with seed ${config.seed} differ: ${d}`);
  pass('determinism', `${first.size} tensors bit-identical across two runs with seed ${config.seed}`);

  for (const run of [a, fresh, b]) await run.container.close();
  return { agent: agentType, engine: engineName, status: 'passed', note: engine.description, checks, metrics, maskChanges, seconds: (performance.now() - t0) / 1000 };
}

/** Copies of every online layer's mask (null for a dense layer). */
function onlineMasks(groups: readonly NetworkGroup[]): (Float32Array | null)[] {
  return groups.flatMap((g) => g.networks.flatMap((net) => net.layers.map((l) => (l.mask ? Float32Array.from(l.mask) : null))));
}

/** Entries that differ between two lists of masks of the same layers (null = all ones). */
function countChanges(before: readonly (Float32Array | null)[], after: readonly (Float32Array | null)[]): number {
  let changed = 0;
  before.forEach((x, k) => {
    const y = after[k];
    if (x === null && y === null) return;
    const n = (x ?? y)!.length;
    for (let i = 0; i < n; i++) if ((x ? x[i] : 1) !== (y ? y[i] : 1)) changed++;
  });
  return changed;
}

/** `<group>Sparsity` of the validated options for every group that has one (`actorSparsity`, `criticSparsity`). */
function declaredSparsity(section: ExperimentConfig['sparsifier'], groups: readonly NetworkGroup[]): Record<string, number> | null {
  const out: Record<string, number> = {};
  for (const g of groups) {
    const v = section[`${g.name}Sparsity`];
    if (typeof v === 'number') out[g.name] = v;
  }
  return Object.keys(out).length > 0 ? out : null;
}

/** Seeded random transitions: N(0, 1) observations and rewards, uniform actions in the Box, 10 % terminal. */
function fillBuffer(buffer: ReplayBuffer, seed: number, count: number, spec: EnvironmentSpec): void {
  const rng = new Rng(seed).fork('sparse-rl/testing transitions');
  const box = spec.actionSpace as BoxSpace;
  const normal = (n: number) => Float32Array.from({ length: n }, () => rng.normal());
  for (let i = 0; i < count; i++) {
    buffer.add({
      observation: normal(spec.observationSize),
      action: Float32Array.from({ length: spec.actionSize }, (_, j) => rng.uniformRange(box.low[j], box.high[j])),
      reward: rng.normal(),
      nextObservation: normal(spec.observationSize),
      terminated: rng.uniform() < 0.1,
      truncated: false,
    });
  }
}

/** Copies weights, biases, masks (online and target) and Adam state, as loading a checkpoint does. */
function copyNetworks(from: readonly NetworkGroup[], to: readonly NetworkGroup[]): void {
  from.forEach((g, gi) => {
    const h = to[gi];
    g.networks.forEach((net, i) => h.networks[i].copyFrom(net));
    g.targets.forEach((net, i) => h.targets[i].copyFrom(net));
    g.optimizers.forEach((opt, i) => {
      const dst = h.optimizers[i];
      dst.stepCount = opt.stepCount;
      for (const [key, { m, v }] of opt.state) {
        const s = dst.state.get(key);
        s?.m.set(m);
        s?.v.set(v);
      }
    });
  });
}
