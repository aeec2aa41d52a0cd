/**
 * The `unix` transport (`./stream-socket.ts`: the bridge protocol over a plain Unix stream socket,
 * no ZeroMQ): its framing, and, with the real bridge and real MuJoCo, results bit-identical to
 * the default ZeroMQ `ipc` transport (both environments stepped in lockstep with the same seeds
 * and actions, through episode ends), the same error behaviour (remote errors leave the env
 * usable, a killed child fails the next step with its exit, restartOnCrash), state snapshots,
 * and clean-up of the socket folder.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { tmpdir } from 'node:os';
import { describe, expect, it } from 'vitest';
import { GymnasiumEnvironment } from '../../../plugins/environment-gymnasium/gymnasium-environment.js';
import { bindLocalSocket } from '../../../plugins/environment-gymnasium/bridge-transport.js';
import { encodeStreamMessage, splitStreamMessage, StreamMessageReader } from '../../../plugins/environment-gymnasium/stream-socket.js';
import { decodeMessage, encodeMessage } from '../../../plugins/environment-gymnasium/protocol.js';
import { environmentStartOptions, type GymnasiumOptions } from '../../../plugins/environment-gymnasium/gymnasium-options.js';
import { PluginRegistry } from '../../../src/plugin/plugin-registry.js';
import { merge, runRecipe, withoutWallClock } from '../../helpers/recipe-run.js';
import { HAS_VENV, randomActions, uniformStream } from './helpers.js';

/** 600 steps of TD3 (learning from step 200) with an evaluation at 0 and 600: both envs on the transport under test. */
const tinyRun = {
  name: 'transport', seed: 3, totalSteps: 600, output: { progress: 'none' },
  agent: { type: 'td3', learningStarts: 200, batchSize: 16, hiddenSizes: [16, 16] },
  evaluation: { interval: 600, episodes: 1 }, checkpoint: { interval: 600 }, runtime: { engine: 'tfjs' },
};

/** `transport: 'unix'` of the environment options. */
const UNIX = { transport: 'unix' } as const;

function bytesOf(a: ArrayBufferView): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

function cmdline(pid: number): string[] {
  return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
}

describe('stream framing', () => {
  const frames = [Buffer.from('{"v":"1.3","type":"STEP","seq":1}'), Buffer.from([1, 2, 3]), Buffer.alloc(0), bytesOf(new Float64Array([1.5, -2]))];

  it('round-trips frames, pads each to 8 bytes and keeps array frames aligned', () => {
    const msg = encodeStreamMessage(frames);
    expect(msg.length % 8).toBe(0);
    expect(msg.readUInt32LE(0)).toBe(msg.length - 4);
    expect(msg.readUInt32LE(4)).toBe(frames.length);
    const back = splitStreamMessage(msg);
    expect(back.map((b) => b.toString('hex'))).toEqual(frames.map((b) => b.toString('hex')));
    for (const b of back) expect(b.byteOffset % 8).toBe(0);
    // A protocol message decodes from the split frames with zero-copy views.
    const { frames: f } = encodeMessage('STEP', 3, undefined, [{ name: 'actions', data: new Float32Array([1, 2, 3, 4]), shape: [2, 2] }]);
    const m = decodeMessage(splitStreamMessage(Buffer.from(encodeStreamMessage(f))));
    expect(m.header.seq).toBe(3);
    expect(Array.from(m.arrays.get('actions') as Float32Array)).toEqual([1, 2, 3, 4]);
  });

  it('reassembles messages from chunks cut anywhere, and several per chunk', () => {
    const a = encodeStreamMessage(frames);
    const b = encodeStreamMessage([Buffer.from('x'.repeat(1000))]);
    const stream = Buffer.concat([a, b, a]);
    for (const cut of [1, 3, 4, 5, 7, 8, 13, a.length - 1, a.length, a.length + 2, stream.length - 1]) {
      const r = new StreamMessageReader();
      const got = [...r.push(stream.subarray(0, cut)), ...r.push(stream.subarray(cut))];
      expect(got.map((m) => m.toString('hex'))).toEqual([a, b, a].map((m) => m.toString('hex')));
    }
    const r = new StreamMessageReader();
    const byByte: Buffer[] = [];
    for (let i = 0; i < stream.length; i++) byByte.push(...r.push(stream.subarray(i, i + 1)));
    expect(byByte).toHaveLength(3);
  });

  it('refuses prefixes that do not add up', () => {
    const msg = encodeStreamMessage(frames);
    const bad = Buffer.from(msg);
    bad.writeUInt32LE(99, 8); // first frame length too long
    expect(() => splitStreamMessage(bad)).toThrow(/exceed|add up/);
    const none = Buffer.from(msg);
    none.writeUInt32LE(0, 4);
    expect(() => splitStreamMessage(none)).toThrow(/malformed/);
    expect(() => splitStreamMessage(msg.subarray(0, msg.length - 8))).toThrow(/malformed/);
    const huge = Buffer.alloc(8);
    huge.writeUInt32LE(2 ** 32 - 1, 0);
    expect(() => new StreamMessageReader().push(huge)).toThrow(/announced/);
  });

  it('binds a private socket folder (0700) with a unix:// endpoint', async () => {
    const { socket, endpoint, ipcDir } = await bindLocalSocket('unix');
    try {
      expect(endpoint).toBe(`unix://${join(ipcDir!, 's')}`);
      expect(dirname(ipcDir!)).toBe(tmpdir());
      expect(statSync(ipcDir!).mode & 0o777).toBe(0o700);
      expect(statSync(join(ipcDir!, 's')).isSocket()).toBe(true);
    } finally {
      socket.close();
    }
    expect(socket.closed).toBe(true);
    await expect(socket.receive()).rejects.toThrow(/closed/);
  });
});

describe.skipIf(!HAS_VENV)('the unix transport with the real bridge', () => {
  it.each([
    { envId: 'Hopper-v5', vectorization: 'sync' as const, steps: 1200 },
    { envId: 'HalfCheetah-v5', vectorization: 'sync' as const, steps: 1100 },
    { envId: 'Hopper-v5', vectorization: 'async' as const, steps: 300 },
  ])(
    '$envId ($vectorization), 2 envs: every step is bit-identical to the ipc transport, episode ends included',
    async ({ envId, vectorization, steps }) => {
      const n = 2;
      const ipc = await GymnasiumEnvironment.start({ envId, numEnvs: n, seed: 11, vectorization });
      const unix = await GymnasiumEnvironment.start({ envId, numEnvs: n, seed: 11, vectorization, ...UNIX });
      try {
        const endpoint = (pid: number) => cmdline(pid)[cmdline(pid).indexOf('--connect') + 1];
        expect(endpoint(unix.pid)).toMatch(/^unix:\/\//);
        expect(endpoint(ipc.pid)).toMatch(/^ipc:\/\//);
        expect(bytesOf(await unix.reset()).equals(bytesOf(await ipc.reset()))).toBe(true);
        const rand = uniformStream(99);
        let ends = 0;
        for (let t = 0; t < steps; t++) {
          // Some actions outside [-1, 1]: clipped (and counted) on both.
          const a = randomActions(rand, n * ipc.actDim).map((x) => x * 1.2);
          const [r1, r2] = [await ipc.step(a), await unix.step(a)];
          expect(bytesOf(r2.observations).equals(bytesOf(r1.observations)), `observations at step ${t}`).toBe(true);
          expect(bytesOf(r2.rewards).equals(bytesOf(r1.rewards)), `rewards at step ${t}`).toBe(true);
          expect(Array.from(r2.terminated)).toEqual(Array.from(r1.terminated));
          expect(Array.from(r2.truncated)).toEqual(Array.from(r1.truncated));
          expect(r2.episodes).toEqual(r1.episodes);
          for (let i = 0; i < n; i++) {
            const f1 = r1.finalObservations[i];
            const f2 = r2.finalObservations[i];
            expect(f2 === null).toBe(f1 === null);
            if (f1 && f2) {
              expect(bytesOf(f2).equals(bytesOf(f1))).toBe(true);
              ends++;
            }
          }
        }
        expect(ends).toBeGreaterThan(0);
        expect(unix.actionsClipped).toBe(ipc.actionsClipped);
        expect(unix.actionsClipped).toBeGreaterThan(0);
        await unix.ping();
      } finally {
        await Promise.all([ipc.close(), unix.close()]);
      }
    },
    120_000,
  );

  it('remote errors leave the env usable; state snapshots restore bit-identically; close removes the socket folder', async () => {
    const env = await GymnasiumEnvironment.start({ envId: 'HalfCheetah-v5', numEnvs: 1, seed: 3, ...UNIX });
    const dir = dirname(cmdline(env.pid)[cmdline(env.pid).indexOf('--connect') + 1].slice('unix://'.length));
    expect(existsSync(dir)).toBe(true);
    const rand = uniformStream(5);
    try {
      await env.reset();
      await expect(env.step(new Float32Array(6).fill(NaN))).rejects.toThrow(/rejected STEP: actions must be finite/);
      for (let t = 0; t < 20; t++) await env.step(randomActions(rand, 6));
      const snap = await env.saveState();
      expect(snap.restorable).toBe(true);
      const acts = Array.from({ length: 10 }, () => randomActions(rand, 6));
      const first: Buffer[] = [];
      for (const a of acts) first.push(bytesOf((await env.step(a)).observations));
      await env.restoreState((snap as { payload: Uint8Array }).payload);
      for (let k = 0; k < acts.length; k++) expect(bytesOf((await env.step(acts[k])).observations).equals(first[k])).toBe(true);
    } finally {
      await env.close();
    }
    expect(existsSync(dir)).toBe(false);
    await expect(env.step(new Float32Array(6))).rejects.toThrow(/closed/);
  });

  it('a SIGKILLed child fails the next step with its exit; restartOnCrash brings a new unix bridge', async () => {
    const env = await GymnasiumEnvironment.start({ envId: 'InvertedPendulum-v5', numEnvs: 1, seed: 1, ...UNIX });
    try {
      await env.reset();
      await env.step(new Float32Array(1));
      process.kill(env.pid, 'SIGKILL');
      await expect(env.step(new Float32Array(1))).rejects.toThrow(/SIGKILL/);
    } finally {
      await env.close();
    }
    const warnings: string[] = [];
    const again = await GymnasiumEnvironment.start({ envId: 'InvertedPendulum-v5', numEnvs: 1, seed: 1, restartOnCrash: true, onWarning: (m) => warnings.push(m), ...UNIX });
    try {
      await again.reset();
      const pid = again.pid;
      process.kill(pid, 'SIGKILL');
      const r = await again.step(new Float32Array(1));
      expect(r.truncated[0]).toBe(1);
      expect(again.restarts).toBe(1);
      expect(again.pid).not.toBe(pid);
      expect(cmdline(again.pid)[cmdline(again.pid).indexOf('--connect') + 1]).toMatch(/^unix:\/\//);
      expect((await again.step(new Float32Array(1))).observations).toHaveLength(4);
      expect(warnings.some((w) => /restarting it/.test(w))).toBe(true);
    } finally {
      await again.close();
    }
  });
});

describe.skipIf(!HAS_VENV)('environment.transport in a run config', () => {
  it('a seeded TD3 run on Hopper-v5 with transport "unix" logs the same metrics as with the default (ipc), and its config records the choice', async () => {
    const registry = await PluginRegistry.load();
    const run = (transport?: 'unix') => runRecipe(registry, merge(tinyRun, { environment: { type: 'gymnasium', id: 'Hopper-v5', ...(transport ? { transport } : {}) } }), 'transport');
    const [ipc, unix] = [await run(), await run('unix')];
    expect(withoutWallClock(unix.records)).toEqual(withoutWallClock(ipc.records));
    expect(unix.config.environment).toMatchObject({ transport: 'unix' });
    expect(ipc.config.environment).not.toHaveProperty('transport');
    // both roles' bridges get it
    for (const role of ['train', 'eval'] as const) {
      expect(environmentStartOptions(unix.config.environment as unknown as GymnasiumOptions, role, unix.config).transport).toBe('unix');
      expect(environmentStartOptions(ipc.config.environment as unknown as GymnasiumOptions, role, ipc.config).transport).toBeUndefined();
    }
  }, 120_000);
});
