/**
 * Where the bench's own wall time goes (issue 17: the harness must finish
 * `--agents 10000` in 10 minutes and `--quick` in 2). Each scenario laps a
 * clock at the end of each phase; the laps of one scenario add up to its
 * whole time, so nothing is left out. Every lap is one JSON line
 * (`{"scenario":…,"phase":…,"seconds":…}`) and run.ts prints them again as a
 * table at the end. Phase times are the harness's, not figures of meshfed.
 */
export interface PhaseLine {
  readonly scenario: string;
  readonly phase: string;
  readonly seconds: number;
}
export type PhaseSink = (line: PhaseLine) => void;

export class PhaseClock {
  #last = performance.now();

  constructor(readonly scenario: string, readonly sink: PhaseSink) {}

  /** Ends the current phase under `phase`; the next one starts now. Returns its seconds. */
  lap(phase: string): number {
    const now = performance.now();
    const seconds = (now - this.#last) / 1000;
    this.#last = now;
    this.sink({ scenario: this.scenario, phase, seconds: Number(seconds.toFixed(2)) });
    return seconds;
  }
}
