import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { iqmWithCI } from '../../src/report/stats.js';
import { Rng } from '../../src/util/rng.js';
import { defaultPython } from '../../src/util/paths.js';

/**
 * Our IQM and stratified bootstrap against the reference implementation, the `rliable` Python
 * package (Agarwal et al. 2021): point estimates to 1e-12, 95 % intervals within bootstrap noise.
 */
const SCRIPT = `
import json, sys
import numpy as np
from rliable import library as rly, metrics
data = json.load(open(sys.argv[1]))
out = {}
for name, cols in data.items():
    scores = np.array(cols, dtype=np.float64).T  # (runs, tasks), as rliable expects
    np.random.seed(0)  # rliable's StratifiedBootstrap draws from NumPy's global stream
    point, ci = rly.get_interval_estimates({name: scores}, lambda x: np.array([metrics.aggregate_iqm(x)]), reps=int(sys.argv[3]))
    out[name] = {"point": float(point[name][0]), "lower": float(ci[name][0][0]), "upper": float(ci[name][1][0])}
json.dump(out, open(sys.argv[2], "w"))
`;

function python(): string {
  const py = defaultPython();
  const probe = spawnSync(py, ['-c', 'import rliable, arch, scipy'], { encoding: 'utf8' });
  if (probe.status !== 0) {
    throw new Error(`the rliable comparison needs the Python package rliable in ${py}: install it with \`${py} -m pip install rliable==1.2.0 arch==7.2.0 "pandas<3"\` (${probe.stderr.trim().split('\n').pop()})`);
  }
  return py;
}

describe('IQM and stratified-bootstrap CI against rliable', () => {
  it('matches rliable on one task (bootstrap over seeds) and on three tasks (stratified over tasks)', async () => {
    const py = python();
    const rng = new Rng(2021);
    const column = (n: number, scale: number, shift: number) => Array.from({ length: n }, () => shift + scale * (rng.normal() + (rng.uniform() < 0.15 ? 4 : 0)));
    const data: Record<string, number[][]> = {
      oneTask10: [column(10, 100, 1000)],
      oneTask7: [column(7, 1, 0)],
      threeTasks: [column(10, 1, 1), column(10, 0.3, 0.8), column(10, 0.5, 1.2)],
    };
    const dir = mkdtempSync(join(tmpdir(), 'sparse-rl-rliable-'));
    writeFileSync(join(dir, 'scores.json'), JSON.stringify(data));
    // rliable's bootstrap runs a Python loop (~0.2 ms a resample): 10 000 resamples there, 50 000 here
    await promisify(execFile)(py, ['-c', SCRIPT, join(dir, 'scores.json'), join(dir, 'rliable.json'), '10000']);
    expect(existsSync(join(dir, 'rliable.json'))).toBe(true);
    const ref = JSON.parse(readFileSync(join(dir, 'rliable.json'), 'utf8')) as Record<string, { point: number; lower: number; upper: number }>;
    for (const [name, strata] of Object.entries(data)) {
      const ours = iqmWithCI(strata, { reps: 50_000, rng: new Rng(7) });
      const all = strata.flat();
      const range = Math.max(...all) - Math.min(...all);
      expect(Math.abs(ours.point - ref[name].point), name).toBeLessThanOrEqual(1e-12 * Math.max(1, Math.abs(ref[name].point)));
      // two independent 50 000-resample bootstraps: their percentiles differ by Monte-Carlo noise only
      const tol = 0.01 * range; // observed differences: ≤ 0.5 % of the range
      process.stderr.write(`${name}: IQM ${ours.point} (rliable ${ref[name].point}); CI [${ours.lower}, ${ours.upper}] (rliable [${ref[name].lower}, ${ref[name].upper}]); range ${range}\n`);
      expect(Math.abs(ours.lower - ref[name].lower), `${name} lower: ours ${ours.lower}, rliable ${ref[name].lower}`).toBeLessThanOrEqual(tol);
      expect(Math.abs(ours.upper - ref[name].upper), `${name} upper: ours ${ours.upper}, rliable ${ref[name].upper}`).toBeLessThanOrEqual(tol);
    }
  });
});
