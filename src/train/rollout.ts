import type { Agent } from '../core/agent.js';
import { flatSize, type BoxSpace, type Environment } from '../core/environment.js';
import type { ReplayBuffer } from '../core/replay-buffer.js';
import type { Rng } from '../util/rng.js';

/**
 * Affine map between the agent's normalised actions in [-1, 1] and a bounded Box action space.
 * @throws Error naming the space when a bound is infinite
 */
export class ActionScaler {
  private readonly low: Float32Array;
  private readonly scale: Float32Array;
  constructor(space: BoxSpace) {
    const n = flatSize(space);
    this.low = Float32Array.from(space.low);
    this.scale = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      if (!Number.isFinite(space.low[i]) || !Number.isFinite(space.high[i])) {
        throw new Error(`action space must be bounded for continuous-control agents, got low=${space.low[i]} high=${space.high[i]} at index ${i}`);
      }
      this.scale[i] = (space.high[i] - space.low[i]) / 2;
    }
  }
  /**
   * `[n, actDim]` in [-1, 1] → env units.
   * @param out where to write (same length as `a`); a new array when omitted
   */
  toEnv(a: Float32Array, out: Float32Array = new Float32Array(a.length)): Float32Array {
    const d = this.scale.length;
    for (let i = 0; i < a.length; i++) out[i] = this.low[i % d] + (a[i] + 1) * this.scale[i % d];
    return out;
  }
}

/** A finished episode seen by the rollout: logged at `step` (env steps including it). */
export interface RolloutEpisode {
  readonly step: number;
  readonly return: number;
  readonly length: number;
}

/**
 * Collects experience: one vector-env step per call, with uniform random actions during the
 * agent's `learningStarts` warm-up, then the agent's exploration actions; stores every
 * transition (the final observation as s' at an episode's end; `terminated` and `truncated`
 * kept apart). The gradient updates of a step may run while the bridge steps the env
 * (`overlap`): they then see the buffer up to the previous transition.
 */
export class Rollout {
  private obs: Float32Array = new Float32Array(0);
  private readonly n: number;
  private readonly obsDim: number;
  private readonly actDim: number;
  // buffers with a shrink hook (RLx2 dynamic capacity) also store the noise-free action
  private readonly wantsActionMean: boolean;
  private readonly envActions: Float32Array;

  constructor(
    private readonly env: Environment,
    private readonly agent: Agent,
    private readonly buffer: ReplayBuffer,
    private readonly scaler: ActionScaler,
    private readonly warmupRng: Rng,
    private readonly overlap: boolean,
  ) {
    this.n = env.numEnvs;
    this.obsDim = flatSize(env.observationSpace);
    this.actDim = flatSize(env.actionSpace);
    this.wantsActionMean = typeof buffer.maybeShrink === 'function';
    this.envActions = new Float32Array(this.n * this.actDim);
  }

  /** Resets the training envs (env i seeded `seed + i`). */
  async reset(seed: number): Promise<void> {
    this.obs = await this.env.reset(seed);
  }

  /** Continues from `observations` `[numEnvs, obsDim]` (the envs' state restored from a checkpoint). */
  continueFrom(observations: Float32Array): void {
    this.obs = observations;
  }

  /** JSON state for checkpoints (the warm-up action stream). */
  state(): unknown {
    return { warmupRng: this.warmupRng.getState() };
  }

  /** Restores `state()`. */
  loadState(state: unknown): void {
    this.warmupRng.setState((state as { warmupRng: ReturnType<Rng['getState']> }).warmupRng);
  }

  /**
   * One env step of every env at `step` env steps done; runs `update` (the gradient updates of
   * this step) overlapped with the env step when allowed.
   * @returns whether `update` ran, and the episodes that ended
   */
  async step(step: number, update: () => void): Promise<{ updated: boolean; episodes: RolloutEpisode[] }> {
    const { n, obsDim, actDim, agent, buffer } = this;
    const obs = this.obs;
    let actions: Float32Array;
    let actionMeans: Float32Array | null = null;
    if (step < agent.learningStarts) {
      actions = new Float32Array(n * actDim);
      for (let i = 0; i < actions.length; i++) actions[i] = this.warmupRng.uniformRange(-1, 1);
      if (this.wantsActionMean) actionMeans = actions;
    } else if (!this.wantsActionMean) actions = agent.act(obs, n, false);
    else if (agent.actWithMean) ({ action: actions, mean: actionMeans } = agent.actWithMean(obs, n));
    else {
      actions = agent.act(obs, n, false);
      actionMeans = agent.act(obs, n, true);
    }
    // the env-unit actions are written into one reused array: the previous step's send is done
    const pending = this.env.step(this.scaler.toEnv(actions, this.envActions));
    pending.catch(() => {}); // awaited below; keeps the rejection handled while updates run
    const overlapped = this.overlap && step + n > agent.learningStarts && buffer.size > 0;
    if (overlapped) update();
    const result = await pending;
    const episodes: RolloutEpisode[] = [];
    for (let i = 0; i < n; i++) {
      const final = result.finalObservations[i];
      buffer.add({
        observation: obs.subarray(i * obsDim, (i + 1) * obsDim),
        action: actions.subarray(i * actDim, (i + 1) * actDim),
        reward: result.rewards[i],
        nextObservation: final ?? result.observations.subarray(i * obsDim, (i + 1) * obsDim),
        terminated: result.terminated[i] === 1,
        truncated: result.truncated[i] === 1,
        ...(actionMeans ? { actionMean: actionMeans.subarray(i * actDim, (i + 1) * actDim) } : {}),
      });
      const ep = result.episodes[i];
      if (ep) episodes.push({ step: step + i + 1, return: ep.return, length: ep.length });
    }
    this.obs = result.observations;
    return { updated: overlapped, episodes };
  }
}
