import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';

/** What a run directory's `.lock` file holds. */
interface LockRecord {
  readonly pid: number;
  readonly hostname: string;
  readonly startedAt: string;
}

/** Thrown when another live process holds a run directory. */
export class RunLockedError extends Error {
  constructor(
    readonly dir: string,
    readonly holder: LockRecord,
  ) {
    super(`run directory ${dir} is in use by pid ${holder.pid} on ${holder.hostname} (since ${holder.startedAt}); one writer per run directory — wait for it, stop it, or choose another --run-dir`);
    this.name = 'RunLockedError';
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The single-writer lock of a run directory: `<dir>/.lock`, created exclusively (`O_EXCL`) with
 * this process's pid, host and start time, removed by `release()`. A lock left by a dead process
 * (same host, pid gone — e.g. after SIGKILL) is taken over with a warning on stderr.
 */
export class RunLock {
  private released = false;

  private constructor(readonly file: string) {}

  /**
   * Takes the lock of `dir`.
   * @throws RunLockedError naming the holder's pid when a live process (or one on another host) holds it
   */
  static acquire(dir: string, warn: (message: string) => void = (m) => process.stderr.write(`warning: ${m}\n`)): RunLock {
    const file = join(dir, '.lock');
    const record: LockRecord = { pid: process.pid, hostname: hostname(), startedAt: new Date().toISOString() };
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fd = openSync(file, 'wx');
        try {
          writeSync(fd, `${JSON.stringify(record)}\n`);
        } finally {
          closeSync(fd);
        }
        return new RunLock(file);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new Error(`taking the run lock ${file}: ${(e as Error).message}`);
      }
      let holder: LockRecord | null = null;
      try {
        holder = JSON.parse(readFileSync(file, 'utf8')) as LockRecord;
      } catch {
        holder = null; // torn or empty lock file: its writer died while creating it
      }
      if (holder && (holder.hostname !== record.hostname || alive(holder.pid))) throw new RunLockedError(dir, holder);
      warn(`taking over the stale lock of ${dir}${holder ? ` (pid ${holder.pid} on ${holder.hostname} since ${holder.startedAt} is gone)` : ' (unreadable lock file)'}`);
      rmSync(file, { force: true });
    }
    throw new Error(`could not take the run lock ${file}: another process keeps re-creating it`);
  }

  /** Removes the lock file; safe to call twice. */
  release(): void {
    if (this.released) return;
    this.released = true;
    rmSync(this.file, { force: true });
  }
}
