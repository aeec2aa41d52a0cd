import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { EnvironmentSnapshot } from '../core/environment.js';
import type { NetworkGroup } from '../core/network-group.js';
import type { ReplayBufferSnapshot } from '../core/replay-buffer.js';
import type { Mlp } from '../nn/engine.js';
import { RunWriteError, writeFileAtomic } from './run-directory.js';
import { readSafetensors, writeSafetensors, type NamedTensor } from './safetensors.js';

/**
 * Checkpoints (docs/architecture.md §7). A checkpoint is a folder `checkpoints/step-<step>/` holding
 * - `model.safetensors`: for every online and target network layer `<net>.l<k>.weight` `[out,in]`
 *   and `.bias` `[out]` (F32), `<net>.l<k>.mask` (U8 0/1) for masked layers, and the Adam moments
 *   `optimizer.<net>.l<k>.{weight,bias}.{m,v}` (F32);
 * - `state.json`: `{ step, optimizerSteps, agent, sparsifier, trainer, replayBuffer, environments }`
 *   (JSON scalars and RNG states; `environments.<role>` says whether that env's state was saved);
 * - `replay-buffer.safetensors`: the buffer's arrays (`checkpoint.replayBuffer`, on by default);
 * - `environment-<role>.bin`: the opaque state of the `train` / `eval` environment when it can
 *   be captured (`Environment.saveState`).
 * It is written to a temporary folder `.step-<step>.tmp-<pid>` and renamed into place, then
 * `checkpoints/latest` (a text file with the folder name) is replaced atomically, so a killed run
 * always leaves the last complete checkpoint; a failed write removes the temporary folder.
 */
export interface CheckpointState {
  readonly step: number;
  readonly agent: unknown;
  readonly sparsifier: unknown;
  readonly trainer: unknown;
  /** The buffer's JSON state when its arrays were saved; `{ saved: false, reason }` otherwise. */
  readonly replayBuffer?: { readonly saved: true; readonly state: unknown } | { readonly saved: false; readonly reason: string };
  /** Per environment role: whether its state file was written, or why not. */
  readonly environments?: Readonly<Record<string, { readonly saved: boolean; readonly reason?: string }>>;
}

/** What `saveCheckpoint` writes besides the networks and `state`. */
export interface CheckpointExtras {
  readonly replayBuffer?: ReplayBufferSnapshot | null;
  readonly environments?: Readonly<Record<string, EnvironmentSnapshot>>;
}

/** A checkpoint read back by `loadCheckpoint`. */
export interface LoadedCheckpoint {
  readonly dir: string;
  readonly state: CheckpointState & { readonly optimizerSteps: Record<string, number> };
  /** The replay buffer's arrays and state, when saved. */
  readonly replayBuffer: ReplayBufferSnapshot | null;
  /** Saved environment states by role. */
  readonly environments: Readonly<Record<string, Uint8Array>>;
}

function networks(groups: readonly NetworkGroup[]): Mlp[] {
  return groups.flatMap((g) => [...g.networks, ...g.targets]);
}

const STEP_FOLDER = /^step-(\d+)$/;

/** Runs `write` of `file` of a checkpoint being written. @throws RunWriteError naming the file */
function writing(file: string, write: (file: string) => void): void {
  try {
    write(file);
  } catch (e) {
    throw new RunWriteError(file, e);
  }
}

/**
 * Writes a checkpoint atomically and deletes the oldest beyond `keep`.
 * @returns the checkpoint folder
 * @throws RunWriteError naming the file that could not be written (the temporary folder removed)
 */
export function saveCheckpoint(root: string, groups: readonly NetworkGroup[], state: CheckpointState, keep: number, extras: CheckpointExtras = {}): string {
  mkdirSync(root, { recursive: true });
  const tensors = new Map<string, NamedTensor>();
  for (const net of networks(groups)) {
    for (const l of net.layers) {
      tensors.set(`${l.name}.weight`, { data: l.weight, shape: [l.outFeatures, l.inFeatures] });
      tensors.set(`${l.name}.bias`, { data: l.bias, shape: [l.outFeatures] });
      if (l.mask) tensors.set(`${l.name}.mask`, { data: Uint8Array.from(l.mask), shape: [l.outFeatures, l.inFeatures] });
    }
  }
  const optimizerSteps: Record<string, number> = {};
  for (const g of groups) {
    g.optimizers.forEach((opt, i) => {
      optimizerSteps[g.networks[i].spec.name] = opt.stepCount;
      for (const [param, { m, v }] of opt.state) {
        tensors.set(`optimizer.${param}.m`, { data: m, shape: [m.length] });
        tensors.set(`optimizer.${param}.v`, { data: v, shape: [v.length] });
      }
    });
  }
  const name = `step-${String(state.step).padStart(9, '0')}`;
  const final = join(root, name);
  const tmp = join(root, `.${name}.tmp-${process.pid}`);
  const environments: Record<string, { saved: boolean; reason?: string }> = { ...state.environments };
  try {
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp);
    writing(join(tmp, 'model.safetensors'), (f) => writeSafetensors(f, tensors, { format: 'sparse-rl-checkpoint-1', step: String(state.step) }));
    if (extras.replayBuffer) {
      const arrays = new Map(Object.entries(extras.replayBuffer.arrays).map(([k, data]) => [k, { data, shape: [data.length] }] as const));
      writing(join(tmp, 'replay-buffer.safetensors'), (f) => writeSafetensors(f, arrays, { format: 'sparse-rl-replay-buffer-1' }));
    }
    for (const [role, snapshot] of Object.entries(extras.environments ?? {})) {
      if (snapshot.restorable) {
        writing(join(tmp, `environment-${role}.bin`), (f) => writeFileSync(f, snapshot.payload));
        environments[role] = { saved: true };
      } else {
        environments[role] = { saved: false, reason: snapshot.reason };
      }
    }
    const replayBuffer = extras.replayBuffer ? { saved: true, state: extras.replayBuffer.state } : state.replayBuffer;
    writing(join(tmp, 'state.json'), (f) => writeFileSync(f, JSON.stringify({ ...state, replayBuffer, environments, optimizerSteps }, null, 1)));
    rmSync(final, { recursive: true, force: true });
    renameSync(tmp, final);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e instanceof RunWriteError ? e : new RunWriteError(final, e);
  }
  writeFileAtomic(join(root, 'latest'), name);
  const all = readdirSync(root).filter((f) => STEP_FOLDER.test(f)).sort();
  for (const old of all.slice(0, Math.max(0, all.length - keep))) rmSync(join(root, old), { recursive: true, force: true });
  return final;
}

/**
 * The folder of the latest complete checkpoint under `root` (the highest `step-*` folder that
 * holds a `state.json`; folders only appear complete, by rename), or null.
 */
export function latestCheckpoint(root: string): string | null {
  if (!existsSync(root)) return null;
  const done = readdirSync(root).filter((f) => STEP_FOLDER.test(f) && existsSync(join(root, f, 'state.json'))).sort();
  return done.length ? join(root, done[done.length - 1]) : null;
}

/**
 * Loads a checkpoint into networks of the same architecture (weights, biases, masks, Adam state)
 * and reads its replay buffer and environment states.
 * @throws Error naming the checkpoint and the missing or mis-shaped tensor (or the corrupt file)
 */
export function loadCheckpoint(dir: string, groups: readonly NetworkGroup[]): LoadedCheckpoint {
  const { tensors } = readSafetensors(join(dir, 'model.safetensors'));
  const take = (name: string, length: number): NamedTensor['data'] => {
    const t = tensors.get(name);
    if (!t) throw new Error(`checkpoint ${dir}: tensor ${name} missing`);
    if (t.data.length !== length) throw new Error(`checkpoint ${dir}: tensor ${name} has ${t.data.length} entries, network expects ${length}`);
    return t.data;
  };
  for (const net of networks(groups)) {
    net.layers.forEach((l, k) => {
      l.weight.set(take(`${l.name}.weight`, l.weight.length));
      l.bias.set(take(`${l.name}.bias`, l.bias.length));
      const mask = tensors.get(`${l.name}.mask`);
      net.setMask(k, mask ? Float32Array.from(take(`${l.name}.mask`, l.weight.length)) : null);
    });
  }
  let state: LoadedCheckpoint['state'];
  try {
    state = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as LoadedCheckpoint['state'];
  } catch (e) {
    throw new Error(`checkpoint ${dir}: state.json unreadable (${(e as Error).message})`);
  }
  for (const g of groups) {
    g.optimizers.forEach((opt, i) => {
      opt.stepCount = state.optimizerSteps[g.networks[i].spec.name] ?? 0;
      for (const [param, { m, v }] of opt.state) {
        m.set(take(`optimizer.${param}.m`, m.length));
        v.set(take(`optimizer.${param}.v`, v.length));
      }
    });
  }
  let replayBuffer: ReplayBufferSnapshot | null = null;
  if (state.replayBuffer?.saved) {
    const arrays = Object.fromEntries([...readSafetensors(join(dir, 'replay-buffer.safetensors')).tensors].map(([k, t]) => [k, t.data]));
    replayBuffer = { arrays, state: state.replayBuffer.state };
  }
  const environments: Record<string, Uint8Array> = {};
  for (const [role, e] of Object.entries(state.environments ?? {})) {
    if (e.saved) environments[role] = new Uint8Array(readFileSync(join(dir, `environment-${role}.bin`)));
  }
  return { dir, state, replayBuffer, environments };
}
