import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { writeCPolicy } from '../../export/c-export.js';
import { formatSizeReport } from '../../export/layer-storage.js';
import { writeOnnxPolicy } from '../../export/onnx.js';
import { loadPolicy } from '../../export/policy-model.js';
import { writeSparsePolicy } from '../../export/sparse-safetensors.js';
import { reporting } from '../fail.js';

/** Export formats of `sparse-rl export`. */
export const EXPORT_FORMATS = ['onnx', 'c', 'sparse-safetensors'] as const;

/**
 * `sparse-rl export RUN_DIR|CHECKPOINT_DIR --format onnx|c|sparse-safetensors [--out DIR]`:
 * writes the deterministic policy (observation in env units → action in env units) of the run's
 * latest checkpoint (or the one given) as an ONNX model, a dependency-free C99 source pair, or a
 * compressed safetensors file, keeping each layer's sparse structure.
 */
export function register(program: Command): void {
  program
    .command('export')
    .description('export the deterministic policy of a run (its latest checkpoint) or a checkpoint: ONNX, dependency-free C, or sparse safetensors')
    .argument('<path>', 'a run directory (its latest checkpoint) or a checkpoint folder runs/…/checkpoints/step-…')
    .addOption(new Option('--format <format>', 'what to write').choices(EXPORT_FORMATS).makeOptionMandatory())
    .option('--out <dir>', 'write into this folder (default: <checkpoint>/export)')
    .option('--dense-initializers', 'onnx: store masked weights as dense initializers instead of ONNX sparse initializers')
    .action(reporting(async (path: string, opts: { format: (typeof EXPORT_FORMATS)[number]; out?: string; denseInitializers?: boolean }) => {
      const loaded = await loadPolicy(path);
      try {
        const { model } = loaded;
        const out = resolve(opts.out ?? join(model.source.checkpoint, 'export'));
        mkdirSync(out, { recursive: true });
        const sparsity = 1 - model.layers.reduce((a, l) => a + l.activeWeights, 0) / model.layers.reduce((a, l) => a + l.weight.length, 0);
        process.stderr.write(`exporting ${model.source.checkpoint} (${model.envId}, agent.${model.source.agent}, sparsifier.${model.source.sparsifier}, actor sparsity ${(100 * sparsity).toFixed(1)} %)\n`);
        if (opts.format === 'onnx') {
          const file = join(out, 'policy.onnx');
          const r = writeOnnxPolicy(model, file, { sparseInitializers: !opts.denseInitializers });
          process.stdout.write(`wrote ${file} (${r.bytes} bytes, ${r.sparseInitializers ? 'sparse' : 'dense'} initializers)\n`);
        } else if (opts.format === 'c') {
          const { files, report } = writeCPolicy(model, out);
          process.stdout.write(`${formatSizeReport(report)}\nwrote ${files.join(', ')}: ${report.totalBytes} bytes of weights, indices and biases = ${(report.totalBytes / report.denseBytes).toFixed(3)}x the dense float32 policy (${report.denseBytes} bytes)\n`);
        } else {
          const file = join(out, 'policy.sparse.safetensors');
          const bytes = writeSparsePolicy(model, file);
          process.stdout.write(`wrote ${file} (${bytes} bytes)\n`);
        }
      } finally {
        await loaded.close();
      }
    }));
}
