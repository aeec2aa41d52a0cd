#!/usr/bin/env node
import { Command } from 'commander';
import * as evaluate from './commands/eval.js';
import * as exportPolicy from './commands/export.js';
import * as newPlugin from './commands/new.js';
import * as plugins from './commands/plugins.js';
import * as report from './commands/report.js';
import * as schema from './commands/schema.js';
import * as setup from './commands/setup.js';
import * as sweep from './commands/sweep.js';
import * as train from './commands/train.js';
import * as validate from './commands/validate.js';
import { sparseRlVersion } from '../util/version.js';

/** The `sparse-rl` command line: one module per command under `commands/`, each with a `register(program)`. */
const program = new Command('sparse-rl')
  .description('Sparse deep reinforcement learning: pluggable sparsifiers and agents, real MuJoCo through a Gymnasium bridge')
  .version(sparseRlVersion());
for (const command of [setup, validate, train, sweep, evaluate, exportPolicy, schema, plugins, newPlugin, report]) command.register(program);

await program.parseAsync(process.argv);
