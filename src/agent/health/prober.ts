/**
 * The agent's application health prober (docs/agent.md, "Health probes").
 * One owner (the agent) configures it with the declared probes and the local
 * endpoints, reads `health()` for its Health messages, and closes it; it owns
 * every timer and in-flight check it starts, and close() cancels them all.
 *
 * Per endpoint (ip:port guarded by a probe) the state is a small machine:
 *
 *   unknown   --1 success-------------------> healthy
 *   unknown   --failureThreshold failures---> unhealthy
 *   healthy   --failureThreshold failures---> unhealthy
 *   unhealthy --successThreshold successes--> healthy
 *
 * "unknown" (no result yet) counts as ready, so an agent restart does not
 * withdraw endpoints that were serving; the first check runs at once. A check
 * that does not finish within timeoutSeconds is a failure ("timed out after
 * 1s"). The next check starts one period after the previous one started.
 */
import type { Logger } from "pino";
import { systemClock, type Clock } from "../../common/clock.js";
import { Listeners } from "../../common/emitter.js";
import { errorMessage } from "../../common/errors.js";
import { formatProbe, type DeclaredProbe } from "../../common/health-probe.js";
import { realCheck, type CheckFn, type CheckResult } from "./check.js";
import type { ProbeMetrics } from "./metrics.js";

export type HealthState = "unknown" | "healthy" | "unhealthy";

/** One endpoint's health as reported to the controller (proto EndpointHealth). */
export interface EndpointHealthReport {
  readonly ip: string;
  readonly port: number;
  readonly state: HealthState;
  readonly reason: string;
  readonly since: string;
  readonly probe: string;
  readonly source: string;
}

/** Monotonic time and timers, injectable: unit tests drive them by hand (test/helpers/fake-timers.ts). */
export interface ProbeTimers {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realTimers: ProbeTimers = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

interface Target {
  readonly key: string;
  readonly ip: string;
  readonly probe: DeclaredProbe;
  readonly signature: string;
  state: HealthState;
  since: string;
  reason: string;
  successes: number;
  failures: number;
  timer: unknown;
  inFlight: AbortController | undefined;
}

export interface ProberOptions {
  readonly logger: Logger;
  readonly check?: CheckFn;
  readonly timers?: ProbeTimers;
  readonly clock?: Clock;
  readonly metrics?: ProbeMetrics;
}

export class Prober {
  readonly #log: Logger;
  readonly #check: CheckFn;
  readonly #timers: ProbeTimers;
  readonly #clock: Clock;
  readonly #metrics: ProbeMetrics | undefined;
  readonly #targets = new Map<string, Target>();
  readonly #changed = new Listeners<void>();
  #unmatched = "";
  #closed = false;

  constructor(o: ProberOptions) {
    this.#log = o.logger.child({ component: "prober" });
    this.#check = o.check ?? realCheck;
    this.#timers = o.timers ?? realTimers;
    this.#clock = o.clock ?? systemClock;
    this.#metrics = o.metrics;
  }

  /**
   * (Re)configures: a target whose probe is unchanged keeps its state and
   * schedule; new ones start at once; removed ones stop. A probe whose port
   * no local endpoint has is logged and ignored (it guards nothing).
   */
  set(probes: readonly DeclaredProbe[], endpoints: ReadonlyArray<{ readonly ip: string; readonly port: number }>): void {
    if (this.#closed) return;
    const wanted = new Map<string, { ip: string; probe: DeclaredProbe; signature: string }>();
    const unmatched: number[] = [];
    for (const probe of probes) {
      const matching = endpoints.filter((e) => e.port === probe.port);
      if (matching.length === 0) unmatched.push(probe.port);
      for (const e of matching) wanted.set(`${e.ip}|${e.port}`, { ip: e.ip, probe, signature: JSON.stringify(probe) });
    }
    const note = unmatched.join(",");
    if (note !== "" && note !== this.#unmatched) this.#log.warn({ ports: unmatched, code: "MESHFED_PROBE_NO_ENDPOINT" }, "health probes for ports with no local endpoint are ignored");
    this.#unmatched = note;
    let changed = false;
    for (const [key, t] of this.#targets) {
      if (wanted.get(key)?.signature === t.signature) continue;
      this.#stop(t);
      this.#targets.delete(key);
      this.#metrics?.forget(t.ip, t.probe.port);
      changed = true;
    }
    for (const [key, w] of wanted) {
      if (this.#targets.has(key)) continue;
      const t: Target = {
        key, ip: w.ip, probe: w.probe, signature: w.signature, state: "unknown", since: this.#clock.now().toISOString(),
        reason: "no probe result yet", successes: 0, failures: 0, timer: undefined, inFlight: undefined,
      };
      this.#targets.set(key, t);
      this.#log.info({ ip: t.ip, port: t.probe.port, probe: formatProbe(t.probe), source: t.probe.source }, "health probe started");
      t.timer = this.#timers.setTimeout(() => void this.#run(t), 0);
      changed = true;
    }
    if (changed) this.#changed.emit();
  }

  /** Every guarded endpoint, sorted by ip then port. */
  health(): EndpointHealthReport[] {
    return [...this.#targets.values()]
      .sort((a, b) => (a.ip !== b.ip ? (a.ip < b.ip ? -1 : 1) : a.probe.port - b.probe.port))
      .map((t) => ({ ip: t.ip, port: t.probe.port, state: t.state, reason: t.reason, since: t.since, probe: formatProbe(t.probe), source: t.probe.source }));
  }

  /** Fires when an endpoint's state changes or the set of guarded endpoints does. */
  onChange(fn: () => void): () => void {
    return this.#changed.add(fn);
  }

  /** Stops every timer and in-flight check; idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const t of this.#targets.values()) this.#stop(t);
    this.#targets.clear();
  }

  #stop(t: Target): void {
    this.#timers.clearTimeout(t.timer);
    t.timer = undefined;
    t.inFlight?.abort();
    t.inFlight = undefined;
  }

  async #run(t: Target): Promise<void> {
    if (this.#closed || this.#targets.get(t.key) !== t) return;
    const started = this.#timers.now();
    const ac = new AbortController();
    t.inFlight = ac;
    const timeoutMs = t.probe.timeoutSeconds * 1000;
    let timedOut = false;
    const aborted = new Promise<CheckResult>((resolve) => ac.signal.addEventListener("abort", () => resolve({ ok: false, failure: "aborted" }), { once: true }));
    const timeout = this.#timers.setTimeout(() => {
      timedOut = true;
      ac.abort();
    }, timeoutMs);
    let result: CheckResult;
    try {
      // The race: a check that ignores its signal still cannot hold the schedule past the timeout.
      result = await Promise.race([this.#check(t.probe, t.ip, ac.signal), aborted]);
    } catch (err) {
      result = { ok: false, failure: errorMessage(err) };
    }
    this.#timers.clearTimeout(timeout);
    // Closed, or the probe was replaced while this check ran: its result belongs to nobody.
    if (this.#closed || this.#targets.get(t.key) !== t) return;
    t.inFlight = undefined;
    if (timedOut) result = { ok: false, failure: `timed out after ${t.probe.timeoutSeconds}s` };
    this.#record(t, result);
    const wait = Math.max(0, t.probe.periodSeconds * 1000 - (this.#timers.now() - started));
    t.timer = this.#timers.setTimeout(() => void this.#run(t), wait);
  }

  #record(t: Target, result: CheckResult): void {
    this.#metrics?.result(t.ip, t.probe.port, result.ok);
    if (result.ok) {
      t.successes += 1;
      t.failures = 0;
      if (t.state === "unknown" || (t.state === "unhealthy" && t.successes >= t.probe.successThreshold)) {
        this.#transition(t, "healthy", t.state === "unknown" ? "probe succeeded" : `probe succeeded ${t.successes} time${t.successes === 1 ? "" : "s"} in a row`);
      }
      return;
    }
    t.failures += 1;
    t.successes = 0;
    if (t.state !== "unhealthy" && t.failures >= t.probe.failureThreshold) {
      this.#transition(t, "unhealthy", `probe failed: ${result.failure} after ${t.failures} tr${t.failures === 1 ? "y" : "ies"}`);
    } else if (t.state !== "unhealthy") {
      this.#log.debug({ ip: t.ip, port: t.probe.port, failure: result.failure, failures: t.failures }, "health probe failed");
    }
  }

  #transition(t: Target, to: HealthState, reason: string): void {
    const from = t.state;
    t.state = to;
    t.reason = reason;
    t.since = this.#clock.now().toISOString();
    this.#metrics?.state(t.ip, t.probe.port, to === "healthy");
    const fields = { ip: t.ip, port: t.probe.port, from, to, reason, probe: formatProbe(t.probe), source: t.probe.source };
    if (to === "unhealthy") this.#log.warn({ ...fields, code: "MESHFED_ENDPOINT_UNHEALTHY" }, "endpoint unhealthy: the controller withdraws it");
    else this.#log.info(fields, "endpoint healthy");
    this.#changed.emit();
  }
}
