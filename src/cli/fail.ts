import { ConfigError, formatIssue } from '../config/validate.js';
import { PluginError } from '../plugin/plugin-checks.js';

/** Prints `error` for a person (config issues one per line; a plugin's original stack; an env's stderr tail) and exits 1. */
export function fail(error: unknown): never {
  if (error instanceof ConfigError) {
    process.stderr.write(`${error.file}: ${error.issues.length} problem(s)\n${error.issues.map((i) => `  ${formatIssue(i)}`).join('\n')}\n`);
  } else {
    const e = error as Error;
    const d = (error as { details?: { stderrTail?: string; remoteTraceback?: string } }).details;
    process.stderr.write(`error: ${e.message}\n`);
    if (e instanceof PluginError && e.cause instanceof Error && e.cause.stack) process.stderr.write(`--- original error in the plugin ---\n${e.cause.stack}\n`);
    if (d?.remoteTraceback && !e.message.includes(d.remoteTraceback.trim())) process.stderr.write(`${d.remoteTraceback}\n`);
    if (d?.stderrTail && !e.message.includes(d.stderrTail.trim())) process.stderr.write(`--- environment stderr (tail) ---\n${d.stderrTail}\n`);
  }
  process.exit(1);
}

/** `action` with every error reported by `fail`. */
export function reporting<A extends unknown[]>(action: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await action(...args);
    } catch (e) {
      fail(e);
    }
  };
}
