import { execFile, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/** How `compileCPolicy` and `benchCPolicy` build. */
export interface CCompileOptions {
  /** The C compiler (default `gcc`; any gcc-compatible driver: `cc`, `clang`). */
  readonly cc?: string;
  /** Flags (default `['-O2']`); `-std=c99` and `-lm` are always passed. */
  readonly cflags?: readonly string[];
}

/** A compiled C policy running as a child process. */
export interface CompiledCPolicy {
  /** `POLICY_OBS_DIM` and `POLICY_ACT_DIM` of the compiled policy. */
  readonly observationSize: number;
  readonly actionSize: number;
  /**
   * Runs `policy_act` on each of `n` observations, `[n, obsDim]` float32 in env units →
   * `[n, actDim]` float32 in env units. Calls are queued (one batch at a time).
   * @throws Error when `obs` is not `n · obsDim` long or the process has died (with its stderr)
   */
  act(obs: Float32Array, n: number): Promise<Float32Array>;
  /** Ends the process and removes the build folder. */
  close(): Promise<void>;
}

/** `POLICY_OBS_DIM` / `POLICY_ACT_DIM` of `<dir>/policy.h`. @throws Error naming the file */
function policyDims(dir: string): { obs: number; act: number } {
  const header = join(dir, 'policy.h');
  for (const f of [header, join(dir, 'policy.c')]) if (!existsSync(f)) throw new Error(`${f} does not exist (write it with writeCPolicy)`);
  const text = readFileSync(header, 'utf8');
  const dim = (name: string) => {
    const m = new RegExp(`#define\\s+${name}\\s+(\\d+)`).exec(text);
    if (!m) throw new Error(`${header} does not define ${name}`);
    return Number(m[1]);
  };
  return { obs: dim('POLICY_OBS_DIM'), act: dim('POLICY_ACT_DIM') };
}

/** Compiles `sources` with the policy into `<build>/<name>`. @throws Error naming the compiler when missing, with its output when it fails */
async function build(dir: string, name: string, driver: string, options: CCompileOptions): Promise<{ build: string; binary: string }> {
  const cc = options.cc ?? 'gcc';
  const cflags = options.cflags ?? ['-O2'];
  const buildDir = mkdtempSync(join(tmpdir(), 'sparse-rl-c-policy-'));
  const driverFile = join(buildDir, `${name}.c`);
  const binary = join(buildDir, name);
  writeFileSync(driverFile, driver);
  const args = [...cflags, '-std=c99', '-I', resolve(dir), '-o', binary, resolve(dir, 'policy.c'), driverFile, '-lm'];
  try {
    await new Promise<void>((done, fail) => {
      execFile(cc, args, { maxBuffer: 16 << 20 }, (err, _stdout, stderr) => {
        if (!err) return done();
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
          return fail(new Error(`the C compiler ${JSON.stringify(cc)} was not found on PATH: install gcc (e.g. \`apt-get install gcc\`) or pass options.cc`));
        }
        fail(new Error(`${cc} failed to compile ${resolve(dir, 'policy.c')} (${cc} ${args.join(' ')}):\n${stderr}`));
      });
    });
  } catch (e) {
    rmSync(buildDir, { recursive: true, force: true });
    throw e;
  }
  return { build: buildDir, binary };
}

/** The driver: float32 observations on stdin → float32 actions on stdout, one row at a time, flushed. */
const DRIVER = `#include <stdio.h>
#include "policy.h"

int main(void)
{
    float obs[POLICY_OBS_DIM];
    float action[POLICY_ACT_DIM];
    while (fread(obs, sizeof(float), POLICY_OBS_DIM, stdin) == POLICY_OBS_DIM) {
        policy_act(obs, action);
        if (fwrite(action, sizeof(float), POLICY_ACT_DIM, stdout) != POLICY_ACT_DIM) return 1;
        fflush(stdout);
    }
    return 0;
}
`;

/**
 * Compiles `<dir>/policy.c` (from `writeCPolicy`) with a small driver (`main` reading float32
 * observations from stdin and writing float32 actions to stdout, binary in the machine's byte
 * order, one row at a time, flushed) using the machine's C compiler (`gcc -O2 -std=c99 … -lm` by
 * default) in a temporary folder, and starts it as a child process.
 * @throws Error naming the compiler when it is not installed, with the compiler's output when
 *   compilation fails, naming the file when `policy.h`/`policy.c` are missing
 */
export async function compileCPolicy(dir: string, options: CCompileOptions = {}): Promise<CompiledCPolicy> {
  const dims = policyDims(dir);
  const { build: buildDir, binary } = await build(dir, 'policy_driver', DRIVER, options);
  const child: ChildProcessWithoutNullStreams = spawn(binary, [], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  let dead: Error | null = null;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const waiters: { bytes: number; done: (b: Buffer) => void; fail: (e: Error) => void }[] = [];
  const serve = () => {
    while (waiters.length && pendingBytes >= waiters[0].bytes) {
      const w = waiters.shift()!;
      const all = Buffer.concat(pending);
      w.done(all.subarray(0, w.bytes));
      pending = [all.subarray(w.bytes)];
      pendingBytes = all.length - w.bytes;
    }
  };
  const die = (e: Error) => {
    dead ??= e;
    for (const w of waiters.splice(0)) w.fail(dead);
  };
  child.stdout.on('data', (b: Buffer) => {
    pending.push(b);
    pendingBytes += b.length;
    serve();
  });
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  child.stdin.on('error', () => undefined); // reported through 'exit'
  const exited = new Promise<void>((done) => {
    child.on('exit', (code, signal) => {
      die(new Error(`the compiled policy (${binary}) exited (${signal ?? `code ${code}`})${stderr ? `: ${stderr}` : ''}`));
      done();
    });
    child.on('error', (e) => {
      die(new Error(`the compiled policy (${binary}) could not run: ${e.message}`));
      done();
    });
  });
  let queue: Promise<unknown> = Promise.resolve();
  let closed = false;
  return {
    observationSize: dims.obs,
    actionSize: dims.act,
    act(obs: Float32Array, n: number): Promise<Float32Array> {
      if (!(Number.isInteger(n) && n >= 0) || obs.length !== n * dims.obs) {
        return Promise.reject(new Error(`act: expected ${n} × ${dims.obs} = ${n * dims.obs} observation floats, got ${obs.length}`));
      }
      if (closed) return Promise.reject(new Error('act: the compiled policy was closed'));
      const input = Buffer.from(obs.buffer.slice(obs.byteOffset, obs.byteOffset + obs.byteLength));
      const run = queue.then(
        () =>
          new Promise<Float32Array>((done, fail) => {
            if (n === 0) return done(new Float32Array(0));
            if (dead) return fail(dead);
            waiters.push({ bytes: n * dims.act * 4, done: (b) => done(new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength))), fail });
            child.stdin.write(input);
          }),
      );
      queue = run.catch(() => undefined);
      return run;
    },
    async close(): Promise<void> {
      if (!closed) {
        closed = true;
        await queue;
        child.stdin.end();
        await exited;
        rmSync(buildDir, { recursive: true, force: true });
      }
    },
  };
}

/** The timing harness: `policy_act` on 64 varied inputs, `iterations` calls per repetition, median ns per call. */
const HARNESS = `#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "policy.h"

#define INPUTS 64
static float obs[INPUTS][POLICY_OBS_DIM];

static int compare(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    const long iterations = argc > 1 ? atol(argv[1]) : 100000;
    const int repetitions = argc > 2 ? atoi(argv[2]) : 5;
    double ns[64];
    float action[POLICY_ACT_DIM];
    volatile float sink = 0.0f;
    unsigned long long state = 12345u;
    int i, k, rep;
    long it;
    if (iterations < 1 || repetitions < 1 || repetitions > 64) return 2;
    for (i = 0; i < INPUTS; i++)
        for (k = 0; k < POLICY_OBS_DIM; k++) {
            state = state * 6364136223846793005ull + 1442695040888963407ull;
            obs[i][k] = (float)((double)(state >> 40) / 8388608.0 - 1.0); /* uniform [-1, 1) */
        }
    for (it = 0; it < iterations / 10 + 1; it++) policy_act(obs[it % INPUTS], action); /* warm-up */
    for (rep = 0; rep < repetitions; rep++) {
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (it = 0; it < iterations; it++) {
            policy_act(obs[it % INPUTS], action);
            sink += action[0];
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        ns[rep] = ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) / (double)iterations;
    }
    qsort(ns, (size_t)repetitions, sizeof(double), compare);
    printf("ns_per_call %.3f\\n", ns[repetitions / 2]);
    for (rep = 0; rep < repetitions; rep++) printf("sample %.3f\\n", ns[rep]);
    return sink == 12345.678f ? 3 : 0;
}
`;

/**
 * Times `policy_act` of `<dir>/policy.c`: compiles a harness (`clock_gettime(CLOCK_MONOTONIC)`,
 * `iterations` calls on 64 varied observations uniform in [−1, 1) per repetition, after a
 * warm-up) with the same compiler and flags as `compileCPolicy`, runs it, and returns the median
 * over `repetitions` (default 5) of the mean time per call.
 * @returns `nsPerCall` (median, ns) and `samplesNs` (every repetition, ascending)
 * @throws Error as `compileCPolicy`; Error when the harness fails or `iterations`/`repetitions` are out of range
 */
export async function benchCPolicy(dir: string, iterations: number, options: CCompileOptions & { readonly repetitions?: number } = {}): Promise<{ nsPerCall: number; samplesNs: number[] }> {
  const repetitions = options.repetitions ?? 5;
  if (!(Number.isInteger(iterations) && iterations >= 1)) throw new Error(`benchCPolicy: iterations must be an integer ≥ 1, got ${iterations}`);
  if (!(Number.isInteger(repetitions) && repetitions >= 1 && repetitions <= 64)) throw new Error(`benchCPolicy: repetitions must be an integer in [1, 64], got ${repetitions}`);
  policyDims(dir);
  const { build: buildDir, binary } = await build(dir, 'policy_bench', HARNESS, options);
  try {
    const out = await new Promise<string>((done, fail) => {
      execFile(binary, [String(iterations), String(repetitions)], (err, stdout, stderr) => (err ? fail(new Error(`the timing harness of ${resolve(dir, 'policy.c')} failed: ${err.message} ${stderr}`)) : done(stdout)));
    });
    const median = /ns_per_call (\S+)/.exec(out);
    if (!median) throw new Error(`the timing harness printed no result: ${out}`);
    const samplesNs = [...out.matchAll(/sample (\S+)/g)].map((m) => Number(m[1]));
    return { nsPerCall: Number(median[1]), samplesNs };
  } finally {
    rmSync(buildDir, { recursive: true, force: true });
  }
}
