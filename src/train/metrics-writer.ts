import { closeSync, existsSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../core/logger.js';
import { RunWriteError, writeFileAtomic } from './run-directory.js';

const CSV_HEADER = 'step,wall_time,key,value\n';

/**
 * Keeps the records of `file` whose step is at most `step` (a torn last line is dropped) and
 * rewrites it atomically. @returns the largest `wall_time` kept (0 when none)
 */
function truncateAfter(file: string, step: number, parse: (line: string) => { step: number; wall: number } | null, header = ''): number {
  if (!existsSync(file)) return 0;
  let wall = 0;
  const kept: string[] = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const r = line && line !== header.trim() ? parse(line) : null;
    if (r && r.step <= step) {
      kept.push(line);
      wall = Math.max(wall, r.wall);
    }
  }
  writeFileAtomic(file, header + kept.map((l) => `${l}\n`).join(''));
  return wall;
}

function parseJsonLine(line: string): { step: number; wall: number } | null {
  try {
    const r = JSON.parse(line) as { step: number; wall_time: number };
    return typeof r.step === 'number' ? { step: r.step, wall: r.wall_time } : null;
  } catch {
    return null;
  }
}

function parseCsvLine(line: string): { step: number; wall: number } | null {
  const [s, w, , v] = line.split(',');
  return v === undefined || s === '' ? null : { step: Number(s), wall: Number(w) };
}

/**
 * The run's own metric sinks: `metrics.jsonl` (one JSON object per record:
 * `{"step", "wall_time", <key>: <value>, ...}`, `wall_time` in seconds since the run started,
 * continued across resumes) and `metrics.csv` in long form (`step,wall_time,key,value`, one row
 * per scalar; pivot in pandas with `df.pivot_table(index="step", columns="key", values="value")`).
 * Every record is written with one `write` call per file, so a killed run loses nothing already
 * logged. Resuming from a checkpoint at step S first drops the records after S (they are
 * replayed exactly by the resumed run).
 */
export class MetricsWriter implements Logger {
  private readonly jsonl: number;
  private readonly csv: number;
  private readonly start: number;
  private readonly jsonlFile: string;
  private readonly csvFile: string;

  /**
   * @param resumeAfterStep when resuming: the checkpoint's step; records after it are removed
   * @throws RunWriteError naming the file that could not be written
   */
  constructor(runDir: string, resumeAfterStep?: number) {
    this.jsonlFile = join(runDir, 'metrics.jsonl');
    this.csvFile = join(runDir, 'metrics.csv');
    let offset = 0;
    if (resumeAfterStep !== undefined) {
      offset = truncateAfter(this.jsonlFile, resumeAfterStep, parseJsonLine);
      truncateAfter(this.csvFile, resumeAfterStep, parseCsvLine, CSV_HEADER);
    }
    this.start = Date.now() - offset * 1000;
    const fresh = !existsSync(this.csvFile);
    this.jsonl = openSync(this.jsonlFile, 'a');
    this.csv = openSync(this.csvFile, 'a');
    if (fresh) this.write(this.csv, this.csvFile, CSV_HEADER);
  }

  private write(fd: number, file: string, text: string): void {
    try {
      writeSync(fd, text);
    } catch (e) {
      throw new RunWriteError(file, e);
    }
  }

  /** @inheritdoc @throws RunWriteError naming the metrics file */
  log(step: number, metrics: Readonly<Record<string, number>>): void {
    const wall = (Date.now() - this.start) / 1000;
    this.write(this.jsonl, this.jsonlFile, `${JSON.stringify({ step, wall_time: wall, ...metrics })}\n`);
    let rows = '';
    for (const [k, v] of Object.entries(metrics)) rows += `${step},${wall},${k},${v}\n`;
    if (rows) this.write(this.csv, this.csvFile, rows);
  }

  /** @inheritdoc */
  close(): void {
    closeSync(this.jsonl);
    closeSync(this.csv);
  }
}
