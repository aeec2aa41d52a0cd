/**
 * Sweeps (`sparse-rl sweep SWEEP.json`, docs/sweeps.md): a grid of recipes × environments ×
 * seeds, validated up front, run locally or on Ray into one sweep directory, idempotently.
 */
export { expandSweep, validateRuns, runName, configName, envToken, type SweepRun, type ValidatedRun, type ExpandOptions } from './expand.js';
export { readSweepFile, validateSweep, sweepSchema, type SweepFile, type SweepRecipeEntry } from './sweep-file.js';
export { scaledSchedule, shrinkSchedules, shrinkOverrides, DEFAULT_TOTAL_STEPS, type ScaledValue } from './shrink.js';
export { SweepDirectory, planRun, classifyExit, readRunMetadata, type Manifest, type ManifestRun, type RunAction, type AttemptOutcome } from './sweep-directory.js';
export { runSweep, type SweepOptions, type SweepResult } from './run-sweep.js';
export { SweepProgress, lastLoggedStep } from './progress.js';
