import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { ExperimentConfig } from '../../src/config/experiment-config.js';
import { ConfigValidator, formatIssue } from '../../src/config/validate.js';
import { RunContainer } from '../../src/plugin/run-container.js';
import type { PluginRegistry } from '../../src/plugin/plugin-registry.js';
import { train } from '../../src/train/trainer.js';

export type Json = Record<string, any>;

/** Deep merge of plain objects (`b` wins; arrays replaced). */
export function merge(a: Json, b: Json): Json {
  const out: Json = { ...a };
  for (const [k, v] of Object.entries(b)) {
    out[k] = v && typeof v === 'object' && !Array.isArray(v) && a[k] && typeof a[k] === 'object' ? merge(a[k], v) : v;
  }
  return out;
}

/** Metric records without their wall-clock fields (`wall_time`, `time/*`): what a seeded run must reproduce. */
export const withoutWallClock = <T extends Record<string, unknown>>(records: readonly T[]): T[] =>
  records.map((r) => Object.fromEntries(Object.entries(r).filter(([k]) => k !== 'wall_time' && !k.startsWith('time/'))) as T);

/** The records of a `metrics.jsonl`. */
export const readJsonl = (file: string) => readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, number>);

/**
 * Validates `raw` (expecting no issues), trains it in a fresh run directory and returns the
 * validated config, the run directory, its metric records and `summary.json`.
 */
export async function runRecipe(registry: PluginRegistry, raw: Json, prefix: string) {
  const { config, issues } = new ConfigValidator(registry).validate(raw);
  expect(issues.map(formatIssue)).toEqual([]);
  const runDir = join(mkdtempSync(join(tmpdir(), `sparse-rl-${prefix}-`)), 'run');
  const result = await train(new RunContainer(config!, registry), { runDir });
  return {
    config: config as ExperimentConfig, runDir, result,
    records: readJsonl(join(runDir, 'metrics.jsonl')),
    summary: JSON.parse(readFileSync(join(runDir, 'summary.json'), 'utf8')) as Json,
  };
}
