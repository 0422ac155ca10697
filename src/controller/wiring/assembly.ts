/**
 * What every wiring step of the controller's composition root shares (issue
 * 20 item 1; docs/architecture.md "Lifecycle"): the configuration, the root
 * logger, the clock, the start sequence that names a failed step, and the
 * one closer every started part is registered on. It is not a bag of
 * components: the components themselves are passed between the steps by name.
 */
import type { Logger } from "pino";
import type { Clock } from "../../common/clock.js";
import { MeshfedError } from "../../common/errors.js";
import { Closer, StartSequence } from "../../common/lifecycle.js";
import type { ControllerConfig } from "../config/schema.js";
import type { ProviderStatus } from "../source-status.js";

export interface Assembly {
  readonly config: ControllerConfig;
  readonly logger: Logger;
  /** The composition root's own logger (`component: controller`). */
  readonly log: Logger;
  readonly clock: Clock;
  readonly start: StartSequence;
  /** Last in, first out; its parts' statuses are the admin API's providers list. */
  readonly closer: Closer<ProviderStatus>;
  /**
   * A stop signal of its own for a part that runs on `start(signal)`, aborted
   * when the closer reaches it. Registered before the part starts: a start that
   * fails or hangs halfway is stopped by the same abort.
   */
  signal(name: string, extra?: { ready?: () => boolean; readinessId?: string; status?: () => ProviderStatus | readonly ProviderStatus[] }): AbortSignal;
}

export function assembly(config: ControllerConfig, logger: Logger, clock: Clock, options: { failAt?: string; observe?: (step: string) => void }): Assembly {
  const log = logger.child({ component: "controller" });
  const closer = new Closer<ProviderStatus>({ closeTimeoutMs: config.shutdownTimeout, logger: log });
  return {
    config, logger, log, clock, closer,
    start: new StartSequence(options),
    signal: (name, extra = {}) => {
      const stop = new AbortController();
      closer.add({ name, close: () => stop.abort(), ...extra });
      return stop.signal;
    },
  };
}

/**
 * A part that starts after the code that calls it was wired (the admin API
 * answers proxy configs from the gRPC plane, which starts later). Declared
 * before its users, set once, and until then a named 503.
 */
export class LateBound<T> {
  readonly #what: string;
  #value: T | undefined;

  constructor(what: string) {
    this.#what = what;
  }

  set(value: T): void {
    this.#value = value;
  }

  get(): T {
    if (this.#value === undefined) throw new MeshfedError("MESHFED_NOT_READY", `${this.#what} is not running yet`, { details: { status: 503 } });
    return this.#value;
  }

  peek(): T | undefined {
    return this.#value;
  }
}
