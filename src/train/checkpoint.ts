import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { NetworkGroup } from '../core/network-group.js';
import type { Mlp } from '../nn/engine.js';
import { encodeSafetensors, readSafetensors, type NamedTensor } from './safetensors.js';

/**
 * Checkpoints (docs/architecture.md §7). A checkpoint is a folder `checkpoints/step-<step>/` holding
 * - `model.safetensors`: for every online and target network layer `<net>.l<k>.weight` `[out,in]`
 *   and `.bias` `[out]` (F32), `<net>.l<k>.mask` (U8 0/1) for masked layers, and the Adam moments
 *   `optimizer.<net>.l<k>.{weight,bias}.{m,v}` (F32);
 * - `state.json`: `{ step, optimizerSteps, agent, sparsifier, trainer }` (JSON scalars and RNG states).
 * It is written to a temporary folder and renamed into place, then `checkpoints/latest` (a text
 * file with the folder name) is replaced atomically, so a killed run always leaves the last
 * complete checkpoint.
 */
export interface CheckpointState {
  readonly step: number;
  readonly agent: unknown;
  readonly sparsifier: unknown;
  readonly trainer: unknown;
}

function networks(groups: readonly NetworkGroup[]): Mlp[] {
  return groups.flatMap((g) => [...g.networks, ...g.targets]);
}

/**
 * Writes a checkpoint atomically and deletes the oldest beyond `keep`.
 * @returns the checkpoint folder
 */
export function saveCheckpoint(root: string, groups: readonly NetworkGroup[], state: CheckpointState, keep: number): string {
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
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp);
  writeFileSync(join(tmp, 'model.safetensors'), encodeSafetensors(tensors, { format: 'sparse-rl-checkpoint-1', step: String(state.step) }));
  writeFileSync(join(tmp, 'state.json'), JSON.stringify({ ...state, optimizerSteps }, null, 1));
  rmSync(final, { recursive: true, force: true });
  renameSync(tmp, final);
  writeFileSync(join(root, '.latest.tmp'), name);
  renameSync(join(root, '.latest.tmp'), join(root, 'latest'));
  const all = readdirSync(root).filter((f) => /^step-\d+$/.test(f)).sort();
  for (const old of all.slice(0, Math.max(0, all.length - keep))) rmSync(join(root, old), { recursive: true, force: true });
  return final;
}

/** The folder of the latest complete checkpoint under `root`, or null. */
export function latestCheckpoint(root: string): string | null {
  const pointer = join(root, 'latest');
  if (!existsSync(pointer)) return null;
  const dir = join(root, readFileSync(pointer, 'utf8').trim());
  return existsSync(dir) ? dir : null;
}

/**
 * Loads a checkpoint into networks of the same architecture (weights, biases, masks, Adam state).
 * @returns the JSON state
 * @throws Error naming the checkpoint and the missing or mis-shaped tensor
 */
export function loadCheckpoint(dir: string, groups: readonly NetworkGroup[]): CheckpointState & { optimizerSteps: Record<string, number> } {
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
  const state = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as CheckpointState & { optimizerSteps: Record<string, number> };
  for (const g of groups) {
    g.optimizers.forEach((opt, i) => {
      opt.stepCount = state.optimizerSteps[g.networks[i].spec.name] ?? 0;
      for (const [param, { m, v }] of opt.state) {
        m.set(take(`optimizer.${param}.m`, m.length));
        v.set(take(`optimizer.${param}.v`, v.length));
      }
    });
  }
  return state;
}
