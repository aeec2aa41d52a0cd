import type { Agent } from '../core/agent.js';
import type { Environment } from '../core/environment.js';
import type { ActionScaler } from './rollout.js';

/** What one evaluation measured. */
export interface EvaluationResult {
  readonly meanReturn: number;
  /** Population standard deviation over the episodes. */
  readonly stdReturn: number;
  readonly episodes: number;
  /** Each episode's return (reward units) and length (env steps), in order. */
  readonly returns: readonly number[];
  readonly lengths: readonly number[];
}

/**
 * A deterministic policy in env units: observations `[n, obsDim]` → actions `[n, actDim]` (the
 * agent's `act(o, n, true)` scaled by an `ActionScaler`, or an exported ONNX / C policy).
 */
export type EnvPolicy = (observations: Float32Array, n: number) => Float32Array | Promise<Float32Array>;

/** The agent's deterministic policy in env units. */
export function agentPolicy(agent: Agent, scaler: ActionScaler): EnvPolicy {
  return (o, n) => scaler.toEnv(agent.act(o, n, true));
}

/**
 * When the evaluation env is reset with the evaluation seed: `every` evaluation (so every
 * evaluation plays the same `episodes` start states, as Fujimoto's TD3 `eval_policy`, RLx2 and
 * DS-TD3 do by re-creating the env with seed + 100 each time), or only the `first` one (later
 * evaluations continue the env's episode stream).
 */
export type EvaluationReseed = 'every' | 'first';

/**
 * Evaluates a deterministic policy on the run's evaluation environment (one env, its own
 * process): `episodes` complete episodes per call, the env reset with `seed` per `reseed`.
 */
export class Evaluator {
  private count = 0;
  private reseed = false;

  constructor(
    private readonly env: Environment,
    private readonly policy: EnvPolicy,
    private readonly episodes: number,
    private readonly seed: number,
    private readonly reseedAt: EvaluationReseed = 'every',
  ) {}

  /** Evaluations done so far. */
  get evaluations(): number {
    return this.count;
  }

  /**
   * Continues a resumed run after `evaluations` evaluations; `envRestored` false (the eval env's
   * state could not be restored) seeds the next evaluation's reset again with `seed` (which
   * `reseed: 'every'` does anyway).
   */
  continueAfter(evaluations: number, envRestored: boolean): void {
    this.count = evaluations;
    this.reseed = !envRestored;
  }

  /** Runs `episodes` episodes. @throws EnvironmentError when the environment fails */
  async evaluate(): Promise<EvaluationResult> {
    let o = await this.env.reset(this.reseedAt === 'every' || this.count === 0 || this.reseed ? this.seed : undefined);
    this.reseed = false;
    const returns: number[] = [];
    const lengths: number[] = [];
    while (returns.length < this.episodes) {
      const r = await this.env.step(await this.policy(o, 1));
      if (r.episodes[0]) {
        returns.push(r.episodes[0].return);
        lengths.push(r.episodes[0].length);
      }
      o = r.observations;
    }
    this.count++;
    const mean = returns.reduce((a, b) => a + b, 0) / returns.length;
    const std = Math.sqrt(returns.reduce((a, b) => a + (b - mean) ** 2, 0) / returns.length);
    return { meanReturn: mean, stdReturn: std, episodes: returns.length, returns, lengths };
  }
}
