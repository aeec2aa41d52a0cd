import { describe, expect, it } from 'vitest';
import type { Mlp, NetworkGroup, Optimizer } from '../../src/index.js';
import { stepGroup } from '../../src/rl/step-group.js';
import { recordingSparsifier } from './fakes.js';

/** A group named `name` with two optimizers that record their steps into `calls`. */
function group(name: string, calls: string[]): NetworkGroup {
  const optimizer = (k: number) => ({ step: () => void calls.push(`step${k}`) }) as unknown as Optimizer;
  return { name, networks: [{} as Mlp, {} as Mlp], targets: [], optimizers: [optimizer(1), optimizer(2)] };
}

describe('stepGroup: one gradient update in the hook order of docs/architecture.md §4', () => {
  it('needsDenseGradient → backward(denseGrad) → beforeOptimizerStep → every optimizer in order → afterOptimizerStep', () => {
    const s = recordingSparsifier({ dense: true });
    const g = group('critic', s.calls);
    const stepped = stepGroup(g, s, (denseGrad) => void s.calls.push(`backward(dense=${denseGrad})`));
    expect(stepped).toBe(true);
    expect(s.calls).toEqual([
      'needsDenseGradient(critic)', 'backward(dense=true)', 'beforeOptimizerStep(critic)', 'step1', 'step2', 'afterOptimizerStep(critic)',
    ]);
  });

  it('a false beforeOptimizerStep skips the optimizers and afterOptimizerStep', () => {
    const s = recordingSparsifier({ skip: ['actor'] });
    const stepped = stepGroup(group('actor', s.calls), s, (denseGrad) => void s.calls.push(`backward(dense=${denseGrad})`));
    expect(stepped).toBe(false);
    expect(s.calls).toEqual(['needsDenseGradient(actor)', 'backward(dense=false)', 'beforeOptimizerStep(actor)']);
  });

  it('an error in backward propagates and no later hook runs', () => {
    const s = recordingSparsifier();
    expect(() => stepGroup(group('actor', s.calls), s, () => {
      throw new Error('boom');
    })).toThrow('boom');
    expect(s.calls).toEqual(['needsDenseGradient(actor)']);
  });
});
