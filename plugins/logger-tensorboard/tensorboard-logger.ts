import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { hostname as osHostname } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '../../src/index.js';
import { encodeEvent, SessionStatus, tfRecord } from './event-file.js';

/** `file_version` of the first event: the format TensorBoard reads today. */
export const FILE_VERSION = 'brain.Event:2';

/** What the tests (or a host) may fix instead of the real clock and process. */
export interface TensorboardLoggerEnv {
  /** The clock, in milliseconds since the Unix epoch (default `Date.now`). */
  readonly now?: () => number;
  /** Host name in the file name (default `os.hostname()`). */
  readonly hostname?: string;
  /** Process id in the file name (default `process.pid`). */
  readonly pid?: number;
}

/**
 * The `logger.tensorboard` sink: one TensorBoard event file per process start, in `dir`, named
 * `events.out.tfevents.<unix seconds>.<hostname>.<pid>.<n>` (n counts files this process opened
 * in the same second; the file is created exclusively, so a name is never reused).
 *
 * - At open: an event with `file_version: "brain.Event:2"`.
 * - Before the first record: `session_log { status: START }` at that record's step. A resumed
 *   run opens a new file in the same folder; TensorBoard reads a folder's files in name order
 *   (the start time leads the name) as one run, and on a START event its loader drops what it
 *   holds at steps ≥ the START step: records an earlier process wrote after the checkpoint the
 *   run resumed from. (TensorBoard's fast Rust loader drops those per tag as soon as a step goes
 *   back, with or without START.)
 * - Every `log(step, metrics)` record: one event with `wall_time` (seconds since the epoch, when
 *   `log` was called), `step`, and `summary { value { tag: <key>, simple_value: <value> } }` for
 *   every key of the record, as `metrics.jsonl` has them. `simple_value` is a float32, so values
 *   are rounded to float32 (`Math.fround`).
 *
 * Each record (with the START event before the first one) is written with a single `write`
 * call and no buffering in between, so a killed process loses nothing already logged.
 */
export class TensorboardLogger implements Logger {
  /** Absolute or relative path of this process's event file. */
  readonly file: string;
  /** @inheritdoc */
  readonly location: string;
  private fd: number | null;
  private started = false;
  private readonly now: () => number;

  /**
   * Creates `dir` if needed, opens a new event file in it and writes the `file_version` event.
   * @param dir the folder of the event files (the plugin passes `<runDir>/<options.dir>`)
   */
  constructor(readonly dir: string, env: TensorboardLoggerEnv = {}) {
    this.now = env.now ?? Date.now;
    mkdirSync(dir, { recursive: true });
    const opened = this.now();
    const host = (env.hostname ?? osHostname()).replace(/[/\\]/g, '_') || 'localhost';
    const stem = `events.out.tfevents.${Math.floor(opened / 1000)}.${host}.${env.pid ?? process.pid}`;
    let fd: number | null = null;
    let file = '';
    for (let n = 0; fd === null; n++) {
      file = join(dir, `${stem}.${n}`);
      try {
        fd = openSync(file, 'wx');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
    }
    this.fd = fd;
    this.file = file;
    this.location = `TensorBoard event files in ${dir} (view: tensorboard --logdir ${dir}; the venv has it: .venv/bin/tensorboard)`;
    this.write(tfRecord(encodeEvent(opened / 1000, 0, { fileVersion: FILE_VERSION })));
  }

  /**
   * Writes one event with every scalar of the record.
   * @param step env step, a non-negative integer (the event's int64 `step`)
   * @throws Error when the logger is closed or `step` is not a non-negative safe integer
   */
  log(step: number, metrics: Readonly<Record<string, number>>): void {
    if (this.fd === null) throw new Error(`logger.tensorboard: log(${step}) after close() (${this.file})`);
    if (!Number.isSafeInteger(step) || step < 0) throw new Error(`logger.tensorboard: step must be a non-negative integer, got ${step}`);
    const scalars: Record<string, number> = {};
    let any = false;
    for (const [k, v] of Object.entries(metrics)) {
      if (typeof v !== 'number') continue;
      scalars[k] = v;
      any = true;
    }
    if (!any) return;
    const wallTime = this.now() / 1000;
    const record = tfRecord(encodeEvent(wallTime, step, { scalars }));
    if (this.started) this.write(record);
    else {
      this.write(Buffer.concat([tfRecord(encodeEvent(wallTime, step, { sessionLog: SessionStatus.START })), record]));
      this.started = true;
    }
  }

  /** Closes the event file (safe to call twice). */
  close(): void {
    if (this.fd === null) return;
    closeSync(this.fd);
    this.fd = null;
  }

  private write(bytes: Buffer): void {
    for (let off = 0; off < bytes.length; ) off += writeSync(this.fd!, bytes, off, bytes.length - off);
  }
}
