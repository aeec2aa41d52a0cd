import { closeSync, existsSync, fstatSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import cliProgress from 'cli-progress';

/** The step a run directory has logged last (its `metrics.jsonl`'s last record), or 0. */
export function lastLoggedStep(runDir: string): number {
  const file = join(runDir, 'metrics.jsonl');
  if (!existsSync(file)) return 0;
  let fd: number | undefined;
  try {
    fd = openSync(file, 'r');
    const size = fstatSync(fd).size;
    const length = Math.min(size, 65536);
    const buf = Buffer.alloc(length);
    readSync(fd, buf, 0, length, size - length);
    const lines = buf.toString('utf8').split('\n').filter((l) => l.trim() !== '');
    for (let i = lines.length - 1; i >= 0; i--) {
      const m = /"step":(\d+)/.exec(lines[i]);
      if (m) return Number(m[1]);
    }
    return 0;
  } catch {
    return 0;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** A run as the progress display sees it. */
export interface ProgressRun {
  readonly name: string;
  readonly runDir: string;
  readonly totalSteps: number;
}

type State = 'queued' | 'running' | 'done' | 'failed' | 'interrupted';

const fmtDuration = (s: number) => (!Number.isFinite(s) ? '-' : s >= 3600 ? `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m` : s >= 60 ? `${Math.floor(s / 60)}m${String(Math.floor(s % 60)).padStart(2, '0')}s` : `${Math.round(s)}s`);

/**
 * Progress of a sweep: runs done / running / queued / failed and an ETA from the env steps the
 * runs have logged (their `metrics.jsonl`) since this invocation started. A `cli-progress` bar
 * on a terminal (`bar`), plain lines otherwise (`lines`: one per run event and one every 30 s),
 * or nothing but run events' failures (`none`).
 */
export class SweepProgress {
  private readonly state = new Map<string, State>();
  private readonly steps = new Map<string, number>();
  private readonly bar: cliProgress.SingleBar | null;
  private readonly mode: 'bar' | 'lines' | 'none';
  private readonly total: number;
  private readonly startSteps: number;
  private readonly t0 = Date.now();
  private lastLine = Date.now();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly runs: readonly ProgressRun[],
    mode: 'auto' | 'bar' | 'lines' | 'none',
    private readonly stream: NodeJS.WriteStream = process.stderr,
  ) {
    this.mode = mode === 'auto' ? (stream.isTTY ? 'bar' : 'lines') : mode;
    this.total = runs.reduce((a, r) => a + r.totalSteps, 0);
    for (const r of runs) {
      this.state.set(r.name, 'queued');
      this.steps.set(r.name, Math.min(r.totalSteps, lastLoggedStep(r.runDir)));
    }
    this.startSteps = this.doneSteps();
    this.bar = this.mode === 'bar'
      ? new cliProgress.SingleBar({ format: '{bar} {percentage}% | runs {done}/{runs} done, {running} running, {queued} queued, {failed} failed | ETA {etaText}', stream, hideCursor: true }, cliProgress.Presets.shades_classic)
      : null;
    this.bar?.start(Math.max(1, this.total), this.startSteps, this.payload());
  }

  /** Marks runs that need nothing (completed before). */
  skipped(name: string): void {
    this.state.set(name, 'done');
    const r = this.runs.find((x) => x.name === name);
    if (r) this.steps.set(name, r.totalSteps);
  }

  /** Starts polling the run directories (every `ms`). */
  start(ms = 2000): void {
    this.timer = setInterval(() => this.tick(), ms);
    this.timer.unref();
  }

  private doneSteps(): number {
    let s = 0;
    for (const v of this.steps.values()) s += v;
    return s;
  }

  private counts() {
    const c = { done: 0, running: 0, queued: 0, failed: 0, interrupted: 0 };
    for (const s of this.state.values()) c[s]++;
    return c;
  }

  private eta(): number {
    const done = this.doneSteps();
    const rate = (done - this.startSteps) / ((Date.now() - this.t0) / 1000);
    return rate > 0 ? (this.total - done) / rate : Infinity;
  }

  private payload() {
    const c = this.counts();
    return { ...c, runs: this.runs.length, etaText: fmtDuration(this.eta()) };
  }

  /** A summary line: `runs 2/4 done, 2 running, 0 queued, 0 failed; 51% of env steps; ETA 1m20s`. */
  summary(): string {
    const c = this.counts();
    const pct = this.total > 0 ? Math.floor((100 * this.doneSteps()) / this.total) : 100;
    return `runs ${c.done}/${this.runs.length} done, ${c.running} running, ${c.queued} queued, ${c.failed} failed${c.interrupted ? `, ${c.interrupted} interrupted` : ''}; ${pct}% of env steps; ETA ${fmtDuration(this.eta())}`;
  }

  /** Polls the running runs' logged steps and refreshes the display. */
  tick(): void {
    for (const r of this.runs) {
      const s = this.state.get(r.name);
      if (s === 'running' || s === 'queued') {
        const step = Math.min(r.totalSteps, lastLoggedStep(r.runDir));
        this.steps.set(r.name, step);
        if (s === 'queued' && existsSync(join(r.runDir, '.lock'))) this.state.set(r.name, 'running');
      }
    }
    if (this.bar) this.bar.update(this.doneSteps(), this.payload());
    else if (this.mode === 'lines' && Date.now() - this.lastLine >= 30_000) this.line(this.summary());
  }

  /** Prints a message above the bar (or as a line). */
  line(text: string): void {
    this.lastLine = Date.now();
    if (this.mode === 'none') return;
    if (this.bar) {
      this.stream.write('\r\x1b[K');
      this.stream.write(`${text}\n`);
      this.bar.update(this.doneSteps(), this.payload());
    } else {
      this.stream.write(`${text}\n`);
    }
  }

  /** A run was submitted or started (`running` when it is known to run now, `queued` when submitted to a scheduler). */
  started(name: string, attempt: number, action: string, state: 'running' | 'queued' = 'running'): void {
    this.state.set(name, state);
    this.line(`${state === 'running' ? 'start' : 'submit'} ${name} (attempt ${attempt}, ${action}) — ${this.summary()}`);
  }

  /** A run's attempt ended. */
  finished(name: string, status: 'completed' | 'failed' | 'interrupted' | 'retrying', message?: string): void {
    const r = this.runs.find((x) => x.name === name);
    if (status === 'completed') {
      this.state.set(name, 'done');
      if (r) this.steps.set(name, r.totalSteps);
    } else if (status === 'failed') this.state.set(name, 'failed');
    else if (status === 'interrupted') this.state.set(name, 'interrupted');
    else this.state.set(name, 'queued');
    const text = `${status === 'retrying' ? 'retry' : status === 'completed' ? 'done' : status} ${name}${message ? `: ${message}` : ''} — ${this.summary()}`;
    if (this.mode === 'none' && status === 'failed') this.stream.write(`${text}\n`);
    else this.line(text);
  }

  /** Stops polling and the bar. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.tick();
    this.bar?.stop();
  }
}
