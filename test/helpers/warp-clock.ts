import type { Clock } from "../../src/common/clock.js";

/**
 * A wall clock a test moves by hand. It starts `behindMs` in the past and is
 * meant to be advanced by at most that much: certificates it dates are also
 * checked by TLS against the real clock, so none may be "not yet valid".
 */
export class WarpClock implements Clock {
  #offset: number;

  constructor(behindMs: number) {
    this.#offset = -behindMs;
  }

  now(): Date {
    return new Date(Date.now() + this.#offset);
  }

  advance(ms: number): void {
    this.#offset += ms;
    if (this.#offset > 0) throw new Error(`the warped clock overtook the real one by ${this.#offset} ms; start it further behind`);
  }
}
