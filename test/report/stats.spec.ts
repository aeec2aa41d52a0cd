import { describe, expect, it } from 'vitest';
import { buildTable, finalReturn, methodName } from '../../src/report/index.js';
import type { RunRecord } from '../../src/report/index.js';
import { iqm, iqmWithCI, mean, meanWithCI, percentile, sampleStd, stratifiedBootstrapCI, trimmedMean } from '../../src/report/stats.js';
import { cumulativeTrainingFlops } from '../../src/report/runs.js';
import { Rng } from '../../src/util/rng.js';

describe('report statistics (hand-checked cases)', () => {
  it('IQM of arrays with n divisible by 4 averages the middle half', () => {
    expect(iqm([1, 2, 3, 4])).toBe(2.5); // cut 1 each end: mean(2, 3)
    expect(iqm([8, 1, 7, 2, 6, 3, 5, 4])).toBe(4.5); // sorted 1..8, middle 3..6
    expect(iqm([100, 0, 1, 2, 3, 4, 5, -100])).toBe(2.5); // outliers dropped: mean(1, 2, 3, 4)
  });

  it('trims floor(n/4) values from each end when n is not divisible by 4 (scipy.stats.trim_mean(x, 0.25))', () => {
    expect(iqm([1])).toBe(1);
    expect(iqm([1, 5])).toBe(3); // floor(0.5) = 0: nothing cut
    expect(iqm([1, 2, 30])).toBe(11); // floor(0.75) = 0
    expect(iqm([1, 2, 3, 4, 50])).toBe(3); // floor(1.25) = 1: mean(2, 3, 4)
    expect(iqm([10, 1, 2, 3, 4, 5])).toBe(3.5); // floor(1.5) = 1: mean(2, 3, 4, 5)
    expect(iqm([1, 2, 3, 4, 5, 6, 70])).toBe(4); // floor(1.75) = 1: mean(2..6)
    expect(iqm([1, 2, 3, 4, 5, 6, 7, 8, 90])).toBe(5); // floor(2.25) = 2: mean(3..7)
    expect(trimmedMean([1, 2, 3, 4, 5], 0.4)).toBe(3); // floor(2) = 2: the median
    expect(() => trimmedMean([1, 2], 0.5)).toThrow(/cuts every one/);
    expect(() => iqm([])).toThrow(RangeError);
  });

  it('mean, sample std (ddof = 1) and NumPy-style linear percentiles', () => {
    expect(mean([1, 2, 3, 6])).toBe(3);
    expect(sampleStd([2, 4, 4, 4, 5, 5, 7, 9])).toBeCloseTo(Math.sqrt(32 / 7), 14);
    expect(sampleStd([5])).toBe(0);
    expect(percentile([1, 2, 3, 4], 50)).toBe(2.5);
    expect(percentile([10, 20, 30, 40, 50], 2.5)).toBe(11); // position 0.1
    expect(percentile([10, 20, 30, 40, 50], 97.5)).toBe(49);
    expect(percentile([3], 97.5)).toBe(3);
  });

  it('the bootstrap is reproducible with a seeded stream, brackets the estimate and has width 0 on constant data', () => {
    const x = [3, 1, 4, 1, 5, 9, 2, 6];
    const a = iqmWithCI([x], { reps: 5000, rng: new Rng(42) });
    const b = iqmWithCI([x], { reps: 5000, rng: new Rng(42) });
    expect(a).toEqual(b);
    expect(a.point).toBe(iqm(x));
    expect(a.lower).toBeLessThanOrEqual(a.point);
    expect(a.upper).toBeGreaterThanOrEqual(a.point);
    expect(a.lower).toBeGreaterThanOrEqual(1);
    expect(a.upper).toBeLessThanOrEqual(9);
    expect(meanWithCI([2, 2, 2], { reps: 100 })).toEqual({ point: 2, lower: 2, upper: 2 });
    expect(() => iqmWithCI([[1], []])).toThrow(/stratum 1 has no score/);
    expect(() => iqmWithCI([[1]], { confidence: 1 })).toThrow(/confidence/);
  });

  it('stratifies: resamples stay inside each stratum (two strata of constant scores never mix)', () => {
    // strata {0,0,0} and {10,10}: every resample is exactly the original, so the interval is a point
    const ci = stratifiedBootstrapCI([[0, 0, 0], [10, 10]], (s) => mean(s.flat()), { reps: 1000 });
    expect(ci).toEqual({ point: 4, lower: 4, upper: 4 });
    // an unstratified bootstrap of the same 5 values would vary; check that against an explicit pool
    const pooled = stratifiedBootstrapCI([[0, 0, 0, 10, 10]], (s) => mean(s.flat()), { reps: 1000 });
    expect(pooled.upper - pooled.lower).toBeGreaterThan(1);
  });
});

const run = (method: string, envId: string, seed: number, returns: number[], sparsifierType = method.startsWith('dense') ? 'dense' : 'static'): RunRecord => ({
  dir: `/runs/${method}-${envId}-${seed}`, name: `${method}-${envId.toLowerCase()}`, status: 'completed', envId, method, sparsifierType, seed,
  evaluations: returns.map((r, i) => ({ step: 1000 * (i + 1), meanReturn: r, trainFlops: 1e9 * (i + 1) })),
  finalMetrics: { 'sparsity/actor': sparsifierType === 'dense' ? 0 : 0.9, 'flops/train_ratio': sparsifierType === 'dense' ? 1 : 0.1 },
  totalTrainFlops: 1e9 * returns.length, averageTrainFlopsRatio: sparsifierType === 'dense' ? 1 : 0.1,
});

describe('report table (hand-checked cases)', () => {
  it('method name: the config name without a trailing -<env id lowercased>', () => {
    expect(methodName('rlx2-td3-halfcheetah-v5', 'HalfCheetah-v5')).toBe('rlx2-td3');
    expect(methodName('quickstart-td3-static-erk-inverted-pendulum', 'InvertedPendulum-v5')).toBe('quickstart-td3-static-erk-inverted-pendulum');
    expect(methodName('halfcheetah-v5', 'HalfCheetah-v5')).toBe('halfcheetah-v5');
  });

  it('final return = mean of the last K evaluations (all of them when fewer)', () => {
    const r = run('dense-td3', 'Hopper-v5', 1, [0, 10, 20, 30, 40]);
    expect(finalReturn(r, 3)).toBe(30);
    expect(finalReturn(r, 1)).toBe(40);
    expect(finalReturn(r, 10)).toBe(20);
    expect(() => finalReturn(r, 0)).toThrow(/positive integer/);
  });

  it('groups method × env, normalises to the dense mean of the env and aggregates over envs with strata = envs', () => {
    const runs = [
      run('dense-td3', 'A-v5', 1, [0, 100, 100, 100]), run('dense-td3', 'A-v5', 2, [0, 300, 300, 300]),
      run('rigl-td3', 'A-v5', 1, [0, 50, 50, 50]), run('rigl-td3', 'A-v5', 2, [0, 150, 150, 150]),
      run('dense-td3', 'B-v5', 1, [0, 10, 10, 10]), run('dense-td3', 'B-v5', 2, [0, 10, 10, 10]),
      run('rigl-td3', 'B-v5', 1, [0, 20, 20, 20]), run('rigl-td3', 'B-v5', 2, [0, 20, 20, 20]),
    ];
    const t = buildTable(runs, { reps: 2000 });
    expect(t.rows.map((r) => `${r.method}@${r.envId}`)).toEqual(['dense-td3@A-v5', 'rigl-td3@A-v5', 'dense-td3@B-v5', 'rigl-td3@B-v5']);
    expect(t.denseReferences).toEqual([
      { envId: 'A-v5', mean: 200, runs: 2, methods: ['dense-td3'] },
      { envId: 'B-v5', mean: 10, runs: 2, methods: ['dense-td3'] },
    ]);
    const rigA = t.rows[1];
    expect(rigA.mean).toBe(100);
    expect(rigA.std).toBeCloseTo(Math.SQRT2 * 50, 12);
    expect(rigA.normalised!.scores).toEqual([0.25, 0.75]);
    expect(rigA.isDenseReference).toBe(false);
    expect(t.rows[0].isDenseReference).toBe(true);
    expect(rigA.sparse.actorSparsity).toBe(0.9);
    // aggregate: normalised scores A: 0.25, 0.75; B: 2, 2 → IQM of [0.25, 0.75, 2, 2] = mean(0.75, 2) = 1.375
    const agg = t.aggregates.find((a) => a.method === 'rigl-td3')!;
    expect(agg.envIds).toEqual(['A-v5', 'B-v5']);
    expect(agg.runs).toBe(4);
    expect(agg.normalisedIqm.point).toBe(1.375);
    // B is constant, so stratified resamples only vary A's two scores: the IQM lies in [IQM(.25,.25,2,2), IQM(.75,.75,2,2)]
    expect(agg.normalisedIqm.lower).toBeGreaterThanOrEqual(1.125);
    expect(agg.normalisedIqm.upper).toBeLessThanOrEqual(1.375 + 0.25);
    const dense = t.aggregates.find((a) => a.method === 'dense-td3')!;
    expect(dense.normalisedIqm.point).toBe(1); // IQM of [0.5, 1.5, 1, 1]
  });

  it('no dense run or a dense mean ≤ 0: no normalised score, with a note; no aggregate for one env', () => {
    const t = buildTable([run('rigl-td3', 'A-v5', 1, [1, 2, 3]), run('dense-td3', 'B-v5', 1, [-5, -5, -5]), run('rigl-td3', 'B-v5', 1, [1, 1, 1])], { reps: 100 });
    expect(t.rows.every((r) => r.normalised === null)).toBe(true);
    expect(t.notes.join('\n')).toMatch(/A-v5: no dense run/);
    expect(t.notes.join('\n')).toMatch(/B-v5: the dense reference's mean final return is -5 ≤ 0/);
    expect(t.aggregates).toEqual([]);
    expect(buildTable([run('rigl-td3', 'A-v5', 1, [1, 2, 3])], { reps: 10 }).aggregates).toEqual([]);
  });
});

describe('cumulative training FLOPs', () => {
  it('integrates flops/train_per_iteration over compression/iterations by the trapezoidal rule', () => {
    const records: Record<string, number>[] = [
      { step: 0, 'flops/train_per_iteration': 10, 'flops/train_ratio': 0.5, 'compression/iterations': 0 },
      { step: 5, 'charts/episodic_return': 3 },
      { step: 100, 'eval/mean_return': 1, 'flops/train_per_iteration': 10, 'flops/train_ratio': 0.5, 'compression/iterations': 50 },
      { step: 200, 'eval/mean_return': 2, 'flops/train_per_iteration': 6, 'flops/train_ratio': 0.25, 'compression/iterations': 150 },
    ];
    const c = cumulativeTrainingFlops(records);
    expect(c.perRecord).toEqual([0, 0, 500, 500 + 100 * 8]);
    expect(c.total).toBe(1300);
    // dense per iteration 20, then 24: 50·20 + 100·22 = 3200
    expect(c.averageRatio).toBe(1300 / 3200);
    expect(cumulativeTrainingFlops([{ step: 1, 'eval/mean_return': 1 }]).total).toBeNaN();
  });
});
