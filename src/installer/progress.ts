/**
 * Progress of a fleet run. On a terminal: one line per job, redrawn in place
 * (at most every 100 ms). Otherwise: one plain log line per step, fit for CI
 * logs and files. Only steps and outcomes are printed, never a secret.
 */
import type { FleetJob, JobResult, ProgressSink } from "./fleet.js";
import { formatDuration } from "./summary.js";

export interface ClosableProgress extends ProgressSink {
  close(): void;
}

function label(job: FleetJob): string {
  return `${job.host} ${job.service}`;
}

function resultText(r: JobResult): string {
  return r.error ? `failed (${formatDuration(r.ms)}): ${r.error.code}` : `${r.outcome} (${formatDuration(r.ms)})`;
}

export function plainProgress(jobs: readonly FleetJob[], write: (text: string) => void): ClosableProgress {
  return {
    step: (i, step) => write(`${label(jobs[i]!)}: ${step}\n`),
    finished: (i, r) => write(`${label(jobs[i]!)}: ${r.error ? `failed: ${r.error.code}: ${r.error.message}` : resultText(r)}\n`),
    close: () => undefined,
  };
}

export function ttyProgress(jobs: readonly FleetJob[], write: (text: string) => void): ClosableProgress {
  const lines = jobs.map(() => "waiting");
  const width = Math.max(...jobs.map((j) => label(j).length));
  let drawn = 0;
  let timer: NodeJS.Timeout | undefined;
  const draw = () => {
    timer = undefined;
    // Move up over what was drawn before, then rewrite every line (clearing each).
    let out = drawn > 0 ? `\x1b[${drawn}A` : "";
    jobs.forEach((job, i) => (out += `\x1b[2K${label(job).padEnd(width)}  ${lines[i]}\n`));
    drawn = jobs.length;
    write(out);
  };
  const schedule = () => {
    timer ??= setTimeout(draw, 100).unref();
  };
  draw();
  return {
    step: (i, step) => {
      lines[i] = `${step}...`;
      schedule();
    },
    finished: (i, r) => {
      lines[i] = resultText(r);
      schedule();
    },
    close: () => {
      if (timer !== undefined) clearTimeout(timer);
      draw();
    },
  };
}
