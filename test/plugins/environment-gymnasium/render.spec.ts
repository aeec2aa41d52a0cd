/**
 * Render modes and the `video` option through the real bridge: `render_mode: 'human'` is refused
 * with a clear error (no window, no abort); the evaluation env of the plugin records every
 * episode to MP4 offscreen (skipped, saying why, without an OpenGL backend); with a backend that
 * does not work, starting fails naming MUJOCO_GL and the Debian packages.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { GymnasiumEnvironment } from '../../../plugins/environment-gymnasium/gymnasium-environment.js';
import { environmentStartOptions, type GymnasiumOptions } from '../../../plugins/environment-gymnasium/gymnasium-options.js';
import { HAS_VENV, ROOT, VENV_PYTHON } from './helpers.js';

/** Whether MuJoCo renders offscreen with MUJOCO_GL=`backend` (the bridge's own probe). */
function renders(backend: string): boolean {
  if (!HAS_VENV) return false;
  const probe = `import sys; sys.path.insert(0, ${JSON.stringify(join(ROOT, 'bridge-python', 'src'))}); from sparse_rl_bridge.video import _probe; sys.exit(0 if _probe(${JSON.stringify(backend)}) is None else 1)`;
  return spawnSync(VENV_PYTHON, ['-c', probe], { stdio: 'ignore' }).status === 0;
}
const wanted = process.env.MUJOCO_GL;
const GL = HAS_VENV && (wanted ? renders(wanted) : renders('egl') || renders('osmesa'));
const OSMESA = HAS_VENV && renders('osmesa');

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

describe.skipIf(!HAS_VENV)('render modes', () => {
  it("render_mode 'human' is refused with one clear message (use rgb_array / video)", async () => {
    const err = await GymnasiumEnvironment.start({ envId: 'HalfCheetah-v5', kwargs: { render_mode: 'human' } }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/render_mode 'human' needs a display.*use render_mode 'rgb_array'.*`video: \{ dir \}`/);
  });
});

describe.skipIf(!HAS_VENV)('video of the evaluation env', () => {
  const run = { seed: 1, evaluation: { seedOffset: 100 } };
  const options = (dir: string): GymnasiumOptions => ({
    id: 'InvertedPendulum-v5', kwargs: {}, numEnvs: 1, vectorization: 'sync', startTimeoutMs: 60000, requestTimeoutMs: 30000,
    idleTimeoutS: 0, restartOnCrash: false, maxRestarts: 3, video: { dir, namePrefix: 'ev' },
  });

  it.skipIf(!GL)('writes an MP4 of nonzero size per episode (runs only with an offscreen GL backend: MUJOCO_GL=egl needs libegl1 + libegl-mesa0, osmesa needs libosmesa6)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sparse-rl-video-'));
    dirs.push(dir);
    const videos = join(dir, 'videos');
    const env = await GymnasiumEnvironment.start(environmentStartOptions(options(videos), 'eval', run));
    try {
      await env.reset();
      let ended = 0;
      for (let t = 0; t < 200 && ended < 1; t++) {
        const r = await env.step(new Float32Array([t % 2 ? 3 : -3]));
        if (r.episodes[0]) ended++;
      }
      expect(ended).toBe(1);
      const files = readdirSync(videos);
      expect(files).toEqual(['ev-episode-0.mp4']);
      expect(statSync(join(videos, files[0])).size).toBeGreaterThan(0);
      const s = await env.saveState();
      expect(s.restorable).toBe(false); // RecordVideo's counters and frames are not captured
    } finally {
      await env.close();
    }
    expect(readdirSync(videos)).toEqual(['ev-episode-0.mp4']); // the episode reset before its first step is not written
  });

  it.skipIf(OSMESA)('with MUJOCO_GL naming a backend that does not work, start fails naming MUJOCO_GL and the packages', async () => {
    const saved = process.env.MUJOCO_GL;
    process.env.MUJOCO_GL = 'osmesa';
    const dir = mkdtempSync(join(tmpdir(), 'sparse-rl-video-'));
    dirs.push(dir);
    try {
      const err = await GymnasiumEnvironment.start(environmentStartOptions(options(join(dir, 'v')), 'eval', run)).catch((e: Error) => e);
      expect(err).toBeInstanceOf(Error);
      const msg = (err as Error).message;
      expect(msg).toMatch(/video recording needs an offscreen OpenGL backend for MuJoCo, and MUJOCO_GL=osmesa is set but does not work/);
      expect(msg).toMatch(/libosmesa6/);
      expect(msg).toMatch(/libegl1/);
      expect(msg).not.toMatch(/Traceback/);
      expect(existsSync(join(dir, 'v'))).toBe(false);
    } finally {
      if (saved === undefined) delete process.env.MUJOCO_GL;
      else process.env.MUJOCO_GL = saved;
    }
  });
});
