import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { packageRoot, venvDir } from '../../src/util/paths.js';
import { readJsonl, withoutWallClock } from '../helpers/recipe-run.js';

/**
 * A 2 recipes × 2 seeds sweep of real MuJoCo (InvertedPendulum-v5 through the bridge): on a local
 * Ray head (2 CPUs, no dashboard) inside a private network + PID namespace (`unshare`), with one
 * run's Ray worker SIGKILLed after its first checkpoints, then the same sweep locally with
 * `--workers 2`: every run's metrics match (the killed one was retried and resumed exactly).
 */

const root = packageRoot();
const cli = join(root, 'dist', 'src', 'cli', 'main.js');
const python = join(venvDir(), 'bin', 'python');
const rayBin = join(venvDir(), 'bin', 'ray');
const SWEEP = 'ray-vs-local';
const KILLED = 'static-erk-td3__InvertedPendulum-v5__s1';
const RUNS = ['static-erk-td3__InvertedPendulum-v5__s1', 'static-erk-td3__InvertedPendulum-v5__s2', 'dense-td3__InvertedPendulum-v5__s1', 'dense-td3__InvertedPendulum-v5__s2'];

function sweepFile(dir: string): string {
  const file = join(dir, 'sweep.json');
  const quickstart = join(root, 'configs', 'quickstart.json');
  writeFileSync(file, JSON.stringify({
    $schema: join(root, 'schemas', 'sweep.schema.json'),
    name: SWEEP,
    recipes: [
      { path: quickstart, method: 'static-erk-td3' },
      { path: quickstart, method: 'dense-td3', set: ['sparsifier={"type":"dense"}'] },
    ],
    seeds: [1, 2],
    budget: { totalSteps: 3000 },
    set: ['agent.learningStarts=500', 'agent.hiddenSizes=[64,64]', 'evaluation.interval=1000', 'evaluation.episodes=2', 'checkpoint.interval=500', 'checkpoint.keep=10', 'loggers=[]', 'output.progress=none', 'runtime.threads=1'],
  }));
  return file;
}

/** metrics.jsonl records without wall-clock fields. */
function metrics(runDir: string): Record<string, unknown>[] {
  return withoutWallClock(readJsonl(join(runDir, 'metrics.jsonl')));
}

/** Runs a command without blocking the test worker (a long spawnSync starves vitest's RPC). */
function run(cmd: string, args: string[], timeoutMs: number): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolveRun) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGTERM'), timeoutMs);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolveRun({ status, stdout, stderr });
    });
  });
}

const json = (file: string) => JSON.parse(readFileSync(file, 'utf8')) as Record<string, any>;

describe('sparse-rl sweep --ray (local Ray head in a private namespace, real MuJoCo)', () => {
  beforeAll(() => {
    if (process.getuid?.() !== 0) throw new Error('the Ray sweep test must run as root: it starts the Ray head inside `unshare -n -p` (a private network namespace, so Ray binds 127.0.0.1 only); CI runs as root');
    const u = spawnSync('unshare', ['--kill-child', '-n', '-p', '-f', '--mount-proc', 'true'], { encoding: 'utf8' });
    if (u.status !== 0) throw new Error(`\`unshare -n -p -f --mount-proc\` is not available here (${u.error?.message ?? u.stderr.trim()}); the Ray sweep test needs it to start an isolated Ray head`);
    if (!existsSync(cli)) throw new Error(`${cli} is missing: run \`npm run build\` first`);
    const r = spawnSync(python, ['-c', 'import ray; print(ray.__version__)'], { encoding: 'utf8' });
    if (r.status !== 0 || !existsSync(rayBin)) throw new Error(`ray is not importable by ${python}: run \`npm run setup\` (bridge-python/requirements.txt pins it)\n${r.stderr}`);
  });

  it('retries and resumes a run whose worker was killed; the same sweep with --workers 2 gives the same metrics; a re-run starts nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'srl-rs-'));
    const file = sweepFile(dir);
    const rayStorage = join(dir, 'ray-storage');
    const target = join(rayStorage, SWEEP, 'runs', KILLED);
    const port = 6300 + Math.floor(Math.random() * 600);
    const script = [
      'set -u',
      'ip link set lo up',
      `"${rayBin}" start --head --num-cpus 2 --include-dashboard=false --port=${port} --node-ip-address=127.0.0.1 --temp-dir="${dir}/ray" --disable-usage-stats --object-store-memory=100000000 > "${dir}/ray-start.log" 2>&1 || { echo "ray start failed"; cat "${dir}/ray-start.log"; exit 90; }`,
      // the killer: once the run has its first checkpoints, SIGKILL the Ray worker running its trainer (the parent of the .lock's pid)
      `( while [ ! -f "${target}/checkpoints/step-000001000/state.json" ]; do sleep 0.05; done; sleep 0.3;
         pid=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).pid)' "${target}/.lock");
         ppid=$(ps -o ppid= -p "$pid" | tr -d " ");
         { echo "trainer=$pid worker=$ppid"; tr "\\0" " " < /proc/$ppid/cmdline; echo; } > "${dir}/killed.txt";
         kill -9 "$ppid" ) &`,
      `"${process.execPath}" "${cli}" sweep "${file}" --ray 127.0.0.1:${port} --storage "${rayStorage}" --progress lines > "${dir}/sweep.out" 2>&1; echo $? > "${dir}/sweep.rc"`,
      `"${rayBin}" stop --force > /dev/null 2>&1`,
      'exit 0',
    ].join('\n');
    // a PID namespace too: `ray stop` there sees only this cluster, and everything in it dies with the namespace (--kill-child)
    const ns = await run('unshare', ['--kill-child', '-n', '-p', '-f', '--mount-proc', 'bash', '-c', script], 240_000);
    const out = existsSync(join(dir, 'sweep.out')) ? readFileSync(join(dir, 'sweep.out'), 'utf8') : '';
    const driverLog = join(rayStorage, SWEEP, 'ray', 'driver.log');
    const context = `${ns.stdout}${ns.stderr}\n--- sweep output ---\n${out}\n--- driver log ---\n${existsSync(driverLog) ? readFileSync(driverLog, 'utf8').slice(-3000) : '(none)'}`;
    expect(ns.status, context).toBe(0);
    expect(readFileSync(join(dir, 'sweep.rc'), 'utf8').trim(), context).toBe('0');

    // the killed process was the Ray worker running the task; the run was retried and resumed
    const killed = readFileSync(join(dir, 'killed.txt'), 'utf8');
    expect(killed, context).toMatch(/ray::/);
    expect(out).toMatch(new RegExp(`retry ${KILLED}`));
    const meta = json(join(target, 'metadata.json'));
    expect(meta.status).toBe('completed');
    expect(meta.resumes?.length, JSON.stringify(meta)).toBeGreaterThanOrEqual(1);
    expect(meta.resumes[0].exact).toBe(true);
    const log = readFileSync(join(rayStorage, SWEEP, 'logs', `${KILLED}.log`), 'utf8');
    expect(log).toMatch(/attempt 2 \(resume\)/);
    expect(log).toMatch(/SIGTERM: finishing step/); // PR_SET_PDEATHSIG: the orphaned trainer checkpointed

    const manifest = json(join(rayStorage, SWEEP, 'manifest.json'));
    expect(manifest.status).toBe('completed');
    expect(manifest.counts.completed).toBe(4);
    expect(manifest.runs.map((r: { name: string }) => r.name).sort()).toEqual([...RUNS].sort());
    expect(manifest.runs.find((r: { name: string }) => r.name === KILLED).attempts).toBe(2);
    for (const run of RUNS) {
      expect(json(join(rayStorage, SWEEP, 'runs', run, 'metadata.json')).status).toBe('completed');
      expect(json(join(rayStorage, SWEEP, 'runs', run, 'config.json')).name).toBe(run.startsWith('dense') ? 'dense-td3-invertedpendulum-v5' : 'static-erk-td3-invertedpendulum-v5');
    }

    // the same sweep locally, 2 workers: the same metrics, run by run
    const localStorage = join(dir, 'local-storage');
    const local = await run(process.execPath, [cli, 'sweep', file, '--workers', '2', '--storage', localStorage, '--progress', 'none'], 240_000);
    expect(local.status, local.stderr).toBe(0);
    for (const run of RUNS) {
      expect(metrics(join(localStorage, SWEEP, 'runs', run)), run).toEqual(metrics(join(rayStorage, SWEEP, 'runs', run)));
    }

    // idempotence: re-running the completed (Ray) sweep starts nothing
    const again = await run(process.execPath, [cli, 'sweep', file, '--workers', '2', '--storage', rayStorage, '--progress', 'lines'], 60_000);
    expect(again.status, again.stderr).toBe(0);
    expect(again.stderr).toContain('nothing to do: all 4 runs are completed');
    expect(again.stderr).not.toMatch(/^start /m);

    // the report of that sweep: one row per method over its 2 seeds, the files of a report
    const report = await run(process.execPath, [cli, 'report', join(rayStorage, SWEEP)], 120_000);
    expect(report.status, report.stderr).toBe(0);
    const reportDir = join(rayStorage, SWEEP, 'report');
    for (const f of ['report.md', 'report.csv', 'report.html', 'figures/curves-InvertedPendulum-v5-steps.png', 'figures/curves-InvertedPendulum-v5-steps.svg']) expect(existsSync(join(reportDir, f)), f).toBe(true);
    const rows = readFileSync(join(reportDir, 'report.csv'), 'utf8').trim().split('\n').slice(1).map((l) => l.split(','));
    expect(rows.map((r) => [r[0], r[1], r[2]]).sort()).toEqual([['dense-td3', 'InvertedPendulum-v5', '2'], ['static-erk-td3', 'InvertedPendulum-v5', '2']]);
  }, 420_000);
});
