import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import plugin from '../../../plugins/logger-tensorboard/index.js';
import { RunDirectoryPath } from '../../../src/index.js';
import { crc32c, maskedCrc32c, tfRecord } from '../../../plugins/logger-tensorboard/event-file.js';
import { FILE_VERSION, TensorboardLogger } from '../../../plugins/logger-tensorboard/tensorboard-logger.js';
import { ConfigValidator, Logger, PluginRegistry, defaultPython } from '../../../src/index.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'sparse-rl-tb-'));
const bytes = (s: string) => new TextEncoder().encode(s);

describe('logger.tensorboard: event-file encoding', () => {
  it('crc32c matches the published check values (RFC 3720 B.4 and the CRC catalogue)', () => {
    expect(crc32c(bytes('123456789'))).toBe(0xe3069283);
    expect(crc32c(new Uint8Array(0))).toBe(0);
    expect(crc32c(new Uint8Array(32))).toBe(0x8a9136aa);
    expect(crc32c(new Uint8Array(32).fill(0xff))).toBe(0x62a8ab43);
    expect(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i))).toBe(0x46dd794e);
    expect(crc32c(Uint8Array.from({ length: 32 }, (_, i) => 31 - i))).toBe(0x113fdb5c);
  });

  it('masks the CRC as TFRecord does: rotate right by 15, add 0xa282ead8', () => {
    const crc = 0xe3069283;
    expect(maskedCrc32c(bytes('123456789'))).toBe(((((crc >>> 15) | (crc << 17)) >>> 0) + 0xa282ead8) % 2 ** 32);
  });

  it('frames a record as length, masked CRC of the length, data, masked CRC of the data', () => {
    const data = bytes('hello');
    const r = tfRecord(data);
    expect(r.length).toBe(8 + 4 + 5 + 4);
    expect(r.readBigUInt64LE(0)).toBe(5n);
    expect(r.readUInt32LE(8)).toBe(maskedCrc32c(r.subarray(0, 8)));
    expect(r.subarray(12, 17).toString()).toBe('hello');
    expect(r.readUInt32LE(17)).toBe(maskedCrc32c(data));
  });
});

describe('logger.tensorboard: the manifest', () => {
  it('is a logger with dir defaulting to "tensorboard", accepted by the composed config schema', async () => {
    expect(plugin.id).toBe('logger.tensorboard');
    expect(plugin.kind).toBe('logger');
    const registry = await PluginRegistry.load();
    expect(registry.get('logger.tensorboard')).toBeDefined();
    const base = { name: 't', environment: { type: 'gymnasium', id: 'InvertedPendulum-v5' }, agent: { type: 'td3' } };
    const ok = new ConfigValidator(registry).validate({ ...base, loggers: [{ type: 'tensorboard' }] });
    expect(ok.issues).toEqual([]);
    expect(ok.config!.loggers).toEqual([{ type: 'tensorboard', dir: 'tensorboard' }]);
    const bad = new ConfigValidator(registry).validate({ ...base, loggers: [{ type: 'tensorboard', flush: true }] });
    expect(bad.issues.map((i) => i.path)).toEqual(['loggers[0].flush']);
  });

  it('binds a Logger built from the run directory (token sparse-rl.RunDirectoryPath) writing into <runDir>/<dir>', () => {
    const runDir = tmp();
    const bound: { token: symbol; factory: (...a: unknown[]) => unknown; deps: readonly symbol[] }[] = [];
    plugin.register({
      options: Object.freeze({ type: 'tensorboard', dir: 'tb' }),
      bind: (token: symbol) => ({
        toConstantValue: () => {
          throw new Error('expected toResolvedValue');
        },
        toResolvedValue: (factory: (...a: unknown[]) => unknown, deps: readonly symbol[] = []) => void bound.push({ token, factory, deps }),
      }),
    });
    expect(bound).toHaveLength(1);
    expect(bound[0].token).toBe(Logger);
    expect(bound[0].deps).toEqual([RunDirectoryPath]);
    expect(Symbol.keyFor(RunDirectoryPath)).toBe('sparse-rl.RunDirectoryPath');
    const logger = bound[0].factory(runDir) as TensorboardLogger;
    logger.close();
    expect(logger.file.startsWith(join(runDir, 'tb', 'events.out.tfevents.'))).toBe(true);
  });
});

describe('logger.tensorboard: the logger', () => {
  it('names files events.out.tfevents.<seconds>.<host>.<pid>.<n>, a new one per start even within one second', () => {
    const dir = tmp();
    const env = { now: () => 1_700_000_000_250, hostname: 'box', pid: 42 };
    const a = new TensorboardLogger(dir, env);
    const b = new TensorboardLogger(dir, env);
    a.close();
    b.close();
    expect(readdirSync(dir).sort()).toEqual(['events.out.tfevents.1700000000.box.42.0', 'events.out.tfevents.1700000000.box.42.1']);
  });

  it('writes every record with one write: the file grows by whole records before close', () => {
    const dir = tmp();
    const logger = new TensorboardLogger(dir, { now: () => 1_700_000_000_000 });
    const size = () => statSync(logger.file).size;
    const afterOpen = size();
    const recordSize = (buf: Buffer) => {
      let pos = 0;
      let n = 0;
      while (pos < buf.length) {
        pos += 8 + 4 + Number(buf.readBigUInt64LE(pos)) + 4;
        n++;
      }
      expect(pos).toBe(buf.length); // no partial record
      return n;
    };
    expect(recordSize(readFileSync(logger.file))).toBe(1); // file_version
    logger.log(0, { a: 1 });
    expect(recordSize(readFileSync(logger.file))).toBe(3); // + session START + record
    logger.log(5, {});
    expect(recordSize(readFileSync(logger.file))).toBe(3); // an empty record writes nothing
    logger.log(10, { a: 2, b: 3 });
    expect(recordSize(readFileSync(logger.file))).toBe(4);
    expect(size()).toBeGreaterThan(afterOpen);
    logger.close();
    logger.close();
    expect(() => logger.log(11, { a: 1 })).toThrow(/after close/);
  });

  it('rejects a step that is not a non-negative integer', () => {
    const logger = new TensorboardLogger(tmp());
    expect(() => logger.log(1.5, { a: 1 })).toThrow(/step must be a non-negative integer, got 1.5/);
    expect(() => logger.log(-1, { a: 1 })).toThrow(/got -1/);
    logger.close();
  });
});

const python = defaultPython();
const haveVenv = existsSync(python);
if (!haveVenv) console.warn(`[logger.tensorboard] skipping the TensorBoard read-back tests: no Python at ${python} (run \`npm run setup\`)`);

/** Every scalar series of the TensorBoard run in `dir`, read by TensorBoard's own EventAccumulator: tag → [step, value, wall_time][]. */
function readBack(dir: string): Record<string, [number, number, number][]> {
  const script = `
import json, math, sys
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
acc = EventAccumulator(sys.argv[1], size_guidance={'scalars': 0})
acc.Reload()
num = lambda x: x if math.isfinite(x) else repr(x)
print(json.dumps({t: [[e.step, num(e.value), e.wall_time] for e in acc.Scalars(t)] for t in acc.Tags()['scalars']}))
`;
  const r = spawnSync(python, ['-c', script, dir], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`TensorBoard read-back failed (is the pinned tensorboard of bridge-python/requirements.txt installed? run \`npm run setup\`):\n${r.stderr}`);
  const raw = JSON.parse(r.stdout) as Record<string, [number, number | string, number][]>;
  const fromPy = (v: number | string) => (typeof v === 'number' ? v : v === 'nan' ? NaN : v === 'inf' ? Infinity : -Infinity);
  return Object.fromEntries(Object.entries(raw).map(([t, rows]) => [t, rows.map(([s, v, w]) => [s, fromPy(v), w] as [number, number, number])]));
}

/** What TensorBoard must show for `records`: per key, [step, float32(value), wall seconds], in log order. */
function expected(records: { step: number; wall: number; metrics: Record<string, number> }[]) {
  const out: Record<string, [number, number, number][]> = {};
  for (const r of records) for (const [k, v] of Object.entries(r.metrics)) (out[k] ??= []).push([r.step, Math.fround(v), r.wall / 1000]);
  return out;
}

describe.skipIf(!haveVenv)('logger.tensorboard: read back by the tensorboard Python package', () => {
  /** A logger on a fake clock; returns what it logged. */
  const session = (dir: string, startMs: number, steps: number[], value: (step: number) => Record<string, number>) => {
    let t = startMs;
    const logger = new TensorboardLogger(dir, { now: () => t });
    const records = steps.map((step) => {
      t += 1234.5;
      const metrics = value(step);
      logger.log(step, metrics);
      return { step, wall: t, metrics };
    });
    return { logger, records };
  };

  it('shows every key of every record with its step, float32 value and wall time', () => {
    const dir = tmp();
    const special = [0, 3.14159, -2.5e-3, 1e-40, 1e39, -1e39, NaN, 123456789.123];
    let i = 0;
    const { logger, records } = session(dir, 1_700_000_000_000, [0, 1000, 2000, 2000, 2500, 5000, 9000, 12000], (step) => ({
      'charts/episodic_return': step / 7,
      'sparsity/actor.l1.weight': 0.9,
      'losses/critic_loss': special[i++],
      ...(step % 2000 === 0 ? { 'eval/mean_return': -step } : {}),
    }));
    logger.close();
    const got = readBack(dir);
    const want = expected(records);
    expect(Object.keys(got).sort()).toEqual(Object.keys(want).sort());
    for (const tag of Object.keys(want)) expect(got[tag], tag).toEqual(want[tag]);
  });

  it('a run killed before close() keeps every record already logged', () => {
    const dir = tmp();
    const { logger, records } = session(dir, 1_700_000_100_000, [0, 1, 2], (s) => ({ x: s * 1.5 }));
    expect(readBack(dir)).toEqual(expected(records)); // read while the file is still open, as after a kill
    logger.close();
  });

  it('a resumed run writes a second file; TensorBoard merges both and drops the first one\'s records at steps >= the resume step', () => {
    const dir = tmp();
    const first = session(dir, 1_700_000_000_000, [0, 10, 20, 30, 40, 50, 60], (s) => ({ 'charts/r': s, 'losses/l': -s }));
    first.logger.close(); // or killed: the file is complete either way
    // resumed from the checkpoint at step 30, 100 s later
    const second = session(dir, 1_700_000_100_000, [30, 40, 50, 60, 70, 80], (s) => ({ 'charts/r': s + 0.5, 'losses/l': -s - 0.5 }));
    second.logger.close();
    expect(readdirSync(dir).filter((f) => f.startsWith('events.out.tfevents.'))).toHaveLength(2);
    const kept = [...first.records.filter((r) => r.step < 30), ...second.records];
    expect(readBack(dir)).toEqual(expected(kept));
  });

  it('the event file starts with file_version brain.Event:2 and a SessionLog START at the first step', () => {
    const dir = tmp();
    const { logger } = session(dir, 1_700_000_000_000, [7], () => ({ a: 1 }));
    logger.close();
    const r = spawnSync(python, ['-c', `
import sys
from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
for e in EventFileLoader(sys.argv[1]).Load():
    print(e.WhichOneof('what'), e.step, e.file_version if e.HasField('file_version') else e.session_log.status if e.HasField('session_log') else len(e.summary.value))
`, logger.file], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim().split('\n')).toEqual([`file_version 0 ${FILE_VERSION}`, 'session_log 7 1', 'summary 7 1']);
  });
});
