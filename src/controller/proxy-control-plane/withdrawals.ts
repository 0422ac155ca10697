/**
 * When a disconnected proxy's announced endpoints are withdrawn.
 *
 * One proxy: after the reconnect grace (`grpc.reconnectGrace`), unless it
 * reconnects first (server.ts #disconnected says why there is a grace).
 *
 * Many at once — a *mass disconnect*: when at least `threshold` of the
 * proxies this controller knows (connected, or disconnected and within their
 * grace) and at least `minProxies` are disconnected at the same time, the
 * cause is the path to the controller (a network blip, a load balancer reset,
 * a controller that was too busy to answer keepalives), not thousands of
 * hosts dying together. The agents keep serving their last config meanwhile,
 * and they all reconnect at the pace the controller accepts handshakes, which
 * at 10,000 agents on two cores takes minutes, far beyond a 10 s grace.
 * Withdrawing the ones not back yet would make every one of them two catalog
 * changes (out, then in again), each re-rendering all its callers, while the
 * controller is busiest; and would withdraw healthy endpoints. So during a
 * mass disconnect a proxy whose grace ends is *held* instead, and the held are
 * withdrawn together when the episode ends:
 *  - no proxy is away any more (all back, or withdrawn at once);
 *  - no proxy reconnected for a whole grace: the reconnects stalled, so the
 *    ones still away are taken for gone;
 *  - `maxHold` after the episode began, whatever the progress.
 * Kubernetes' node lifecycle controller makes the same call: it stops evicting
 * pods when most nodes of a zone turn NotReady together.
 *
 * A revoked certificate, a Goodbye and a proxy seen on another replica
 * withdraw at once, held or not (`now`).
 */
import type { Logger } from "pino";

export interface MassDisconnectSettings {
  /** Fraction (0–1] of known proxies disconnected at once that starts an episode; 0 turns holding off. */
  readonly threshold: number;
  /** Fewest disconnected proxies that make one (a mesh of three losing two is not a mass disconnect). */
  readonly minProxies: number;
  /** Longest an episode holds withdrawals, from its start. */
  readonly maxHoldMs: number;
}

export const DEFAULT_MASS_DISCONNECT: MassDisconnectSettings = { threshold: 0.5, minProxies: 20, maxHoldMs: 300_000 };

export interface WithdrawalsOptions {
  readonly graceMs: number;
  readonly mass: MassDisconnectSettings;
  /** Proxies with an open stream now. */
  readonly connected: () => number;
  /** Withdraws the proxy's announced endpoints. */
  readonly withdraw: (proxyId: string) => void;
  readonly log: Logger;
  /** Proxies held by a mass disconnect, for the gauge. */
  readonly onHeld?: (count: number) => void;
  /** Milliseconds on a monotonic clock (a wall clock stepped back would stretch a hold past maxHold); tests pass a mocked one. */
  readonly now?: () => number;
}

interface Episode {
  readonly since: number;
  lastReconnect: number;
  /** Most proxies away at once, and how many came back during it (for the log). */
  peak: number;
  reconnected: number;
  /** Fires when the episode must be judged again: at lastReconnect + grace or since + maxHold. */
  timer: NodeJS.Timeout | undefined;
}

export class Withdrawals {
  readonly #o: WithdrawalsOptions;
  readonly #now: () => number;
  /** proxyId → the timer that ends its grace. */
  readonly #pending = new Map<string, NodeJS.Timeout>();
  /** Past their grace during a mass disconnect: withdrawn when it ends. */
  readonly #held = new Set<string>();
  #episode: Episode | undefined;

  constructor(options: WithdrawalsOptions) {
    this.#o = options;
    this.#now = options.now ?? (() => performance.now());
  }

  /** Disconnected and not yet withdrawn (within its grace, or held). */
  has(proxyId: string): boolean {
    return this.#pending.has(proxyId) || this.#held.has(proxyId);
  }

  get holding(): boolean {
    return this.#episode !== undefined;
  }

  /** The stream ended: withdraw after the grace unless it reconnects. */
  later(proxyId: string): void {
    this.#cancel(proxyId);
    if (this.#o.graceMs <= 0) {
      this.#o.withdraw(proxyId);
      return;
    }
    const timer = setTimeout(() => this.#graceEnded(proxyId), this.#o.graceMs);
    timer.unref();
    this.#pending.set(proxyId, timer);
    if (this.#episode !== undefined) this.#episode.peak = Math.max(this.#episode.peak, this.#away());
    else this.#maybeStartEpisode();
  }

  /** Withdraw now, whatever its grace or a mass disconnect (revoked, Goodbye, seen elsewhere). */
  now(proxyId: string): void {
    this.#cancel(proxyId);
    this.#o.withdraw(proxyId);
    this.#maybeEndEpisode();
  }

  /** Back with a new stream: nothing of it is withdrawn. */
  reconnected(proxyId: string): void {
    if (!this.#cancel(proxyId)) return;
    const episode = this.#episode;
    if (episode !== undefined) {
      episode.lastReconnect = this.#now();
      episode.reconnected++;
    }
    this.#maybeEndEpisode();
  }

  /** Withdraws every disconnected proxy now (the controller stops: nothing will reconnect here). */
  flush(): void {
    for (const proxyId of [...this.#pending.keys(), ...this.#held]) {
      this.#cancel(proxyId);
      this.#o.withdraw(proxyId);
    }
    this.#endEpisode(undefined);
  }

  /** Drops every timer without withdrawing (abrupt stop). */
  clear(): void {
    for (const t of this.#pending.values()) clearTimeout(t);
    this.#pending.clear();
    this.#held.clear();
    clearTimeout(this.#episode?.timer);
    this.#episode = undefined;
    this.#o.onHeld?.(0);
  }

  /** True if the proxy was pending or held. */
  #cancel(proxyId: string): boolean {
    const timer = this.#pending.get(proxyId);
    if (timer !== undefined) {
      clearTimeout(timer);
      this.#pending.delete(proxyId);
      return true;
    }
    if (!this.#held.delete(proxyId)) return false;
    this.#o.onHeld?.(this.#held.size);
    return true;
  }

  #graceEnded(proxyId: string): void {
    if (!this.#pending.delete(proxyId)) return;
    if (this.#episode !== undefined) {
      this.#held.add(proxyId);
      this.#o.onHeld?.(this.#held.size);
      return;
    }
    this.#o.withdraw(proxyId);
    this.#o.log.debug({ proxyId }, "proxy did not reconnect within the grace: its endpoints are withdrawn");
  }

  #away(): number {
    return this.#pending.size + this.#held.size;
  }

  #maybeStartEpisode(): void {
    const { threshold, minProxies } = this.#o.mass;
    const away = this.#away();
    if (threshold <= 0 || away < minProxies) return;
    const known = away + this.#o.connected();
    if (away < threshold * known) return;
    const now = this.#now();
    this.#episode = { since: now, lastReconnect: now, peak: away, reconnected: 0, timer: undefined };
    this.#o.log.warn({
      code: "MESHFED_MASS_DISCONNECT", disconnected: away, known, graceMs: this.#o.graceMs, maxHoldMs: this.#o.mass.maxHoldMs,
    }, "mass disconnect: endpoints of proxies not back within the grace are kept while the others keep reconnecting (at most maxHold)");
    this.#arm();
  }

  /** Judges the episode again when its stall or its cap can first be reached. */
  #arm(): void {
    const episode = this.#episode!;
    clearTimeout(episode.timer);
    const at = Math.min(episode.lastReconnect + this.#o.graceMs, episode.since + this.#o.mass.maxHoldMs);
    episode.timer = setTimeout(() => this.#judge(), Math.max(1, at - this.#now()));
    episode.timer.unref();
  }

  #judge(): void {
    const episode = this.#episode;
    if (episode === undefined) return;
    const now = this.#now();
    if (now - episode.since >= this.#o.mass.maxHoldMs) this.#endEpisode("the longest hold (maxHold) passed");
    else if (now - episode.lastReconnect >= this.#o.graceMs) this.#endEpisode("no proxy reconnected for a whole grace");
    else this.#arm();
  }

  #maybeEndEpisode(): void {
    if (this.#episode !== undefined && this.#away() === 0) this.#endEpisode("no proxy is away any more");
  }

  /** Ends the episode; the held are withdrawn (those still within their own grace keep it). */
  #endEpisode(reason: string | undefined): void {
    const episode = this.#episode;
    if (episode === undefined) return;
    clearTimeout(episode.timer);
    this.#episode = undefined;
    const held = [...this.#held];
    this.#held.clear();
    this.#o.onHeld?.(0);
    for (const proxyId of held) this.#o.withdraw(proxyId);
    if (reason === undefined) return;
    const fields = {
      code: "MESHFED_MASS_DISCONNECT_OVER", reason, seconds: Math.round((this.#now() - episode.since) / 100) / 10,
      peakDisconnected: episode.peak, reconnected: episode.reconnected, withdrawn: held.length, stillWithinGrace: this.#pending.size,
    };
    if (held.length > 0) this.#o.log.warn(fields, "mass disconnect over: the proxies still away past their grace are withdrawn");
    else this.#o.log.info(fields, "mass disconnect over");
  }
}
