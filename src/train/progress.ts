import cliProgress from 'cli-progress';

/** Figures shown while training. */
export interface ProgressFigures {
  readonly step: number;
  readonly episodicReturn: number | null;
  readonly evalReturn: number | null;
  readonly sparsity: number;
  readonly stepsPerSecond: number;
}

/**
 * Training progress: a `cli-progress` bar on a terminal (`bar`), or a line every 5 % of the run
 * and at each evaluation otherwise (`lines`), or nothing (`none`).
 */
export class Progress {
  private readonly bar: cliProgress.SingleBar | null;
  private lastLinePercent = -1;

  constructor(
    private readonly total: number,
    mode: 'auto' | 'bar' | 'lines' | 'none',
    private readonly stream: NodeJS.WriteStream = process.stderr,
    /** The step the run starts from (a resumed run's checkpoint). */
    startStep = 0,
  ) {
    this.mode = mode === 'auto' ? (stream.isTTY ? 'bar' : 'lines') : mode;
    this.bar =
      this.mode === 'bar'
        ? new cliProgress.SingleBar(
            {
              format: '{bar} {percentage}% | step {value}/{total} | return {ret} | eval {evalRet} | sparsity {sparsity} | {sps} steps/s | ETA {eta_formatted}',
              stream,
              hideCursor: true,
              etaBuffer: 50,
            },
            cliProgress.Presets.shades_classic,
          )
        : null;
    this.bar?.start(total, startStep, this.payload({ step: startStep, episodicReturn: null, evalReturn: null, sparsity: 0, stepsPerSecond: 0 }));
  }
  private readonly mode: 'bar' | 'lines' | 'none';

  private payload(f: ProgressFigures) {
    const num = (x: number | null) => (x === null ? '-' : x.toFixed(1));
    return { ret: num(f.episodicReturn), evalRet: num(f.evalReturn), sparsity: `${(100 * f.sparsity).toFixed(1)}%`, sps: f.stepsPerSecond.toFixed(0) };
  }

  /** Updates the display; `force` prints a line in `lines` mode (evaluations). */
  update(f: ProgressFigures, force = false): void {
    if (this.bar) {
      this.bar.update(f.step, this.payload(f));
      return;
    }
    if (this.mode !== 'lines') return;
    const pct = Math.floor((20 * f.step) / this.total) * 5;
    if (!force && pct === this.lastLinePercent) return;
    this.lastLinePercent = pct;
    const p = this.payload(f);
    this.stream.write(`step ${f.step}/${this.total} | return ${p.ret} | eval ${p.evalRet} | sparsity ${p.sparsity} | ${p.sps} steps/s\n`);
  }

  stop(): void {
    this.bar?.stop();
  }
}
