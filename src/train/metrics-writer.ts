import { closeSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../core/logger.js';

/**
 * The run's own metric sinks: `metrics.jsonl` (one JSON object per record:
 * `{"step", "wall_time", <key>: <value>, ...}`) and `metrics.csv` in long form
 * (`step,wall_time,key,value`, one row per scalar; pivot in pandas with
 * `df.pivot_table(index="step", columns="key", values="value")`). Every record is written with
 * one `write` call per file, so a killed run loses nothing already logged.
 */
export class MetricsWriter implements Logger {
  private readonly jsonl: number;
  private readonly csv: number;
  private readonly start = Date.now();

  constructor(runDir: string) {
    this.jsonl = openSync(join(runDir, 'metrics.jsonl'), 'a');
    this.csv = openSync(join(runDir, 'metrics.csv'), 'a');
    writeSync(this.csv, 'step,wall_time,key,value\n');
  }

  /** @inheritdoc */
  log(step: number, metrics: Readonly<Record<string, number>>): void {
    const wall = (Date.now() - this.start) / 1000;
    writeSync(this.jsonl, `${JSON.stringify({ step, wall_time: wall, ...metrics })}\n`);
    let rows = '';
    for (const [k, v] of Object.entries(metrics)) rows += `${step},${wall},${k},${v}\n`;
    if (rows) writeSync(this.csv, rows);
  }

  /** @inheritdoc */
  close(): void {
    closeSync(this.jsonl);
    closeSync(this.csv);
  }
}
