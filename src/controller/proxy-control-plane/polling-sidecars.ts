/**
 * Which pod sidecars count as connected: Pipy has no stream, it polls the
 * repo every 5 s (PIPY-NOTES.md), so a sidecar is connected while its last
 * authenticated request is recent. Three missed polls (15 s) and it is gone.
 * Where it runs comes from a locator (the Kubernetes provider's pod cache,
 * by the pod's `meshfed.io/proxy-id` annotation), else the TLS peer address.
 */
import type { ServiceRef } from "../../common/service.js";
import type { ConnectedProxy, ConnectedProxySource } from "../catalog/types.js";

export const SIDECAR_STALE_MS = 15_000;

/** The pod a proxy runs in: its IPs and `namespace/name`. */
export type SidecarLocator = (proxyId: string) => { readonly addresses: readonly string[]; readonly pod: string } | undefined;

interface Seen {
  readonly proxyId: string;
  readonly service: ServiceRef;
  readonly serial: string;
  readonly peer: string;
  readonly connectedAt: string;
  lastSeen: number;
}

export class PollingSidecars implements ConnectedProxySource {
  readonly #seen = new Map<string, Seen>();
  readonly #staleMs: number;
  readonly #locate: SidecarLocator | undefined;
  readonly #now: () => number;

  constructor(options: { staleMs?: number; locate?: SidecarLocator; now?: () => number } = {}) {
    this.#staleMs = options.staleMs ?? SIDECAR_STALE_MS;
    this.#locate = options.locate;
    this.#now = options.now ?? Date.now;
  }

  /** Records an authenticated request; a new serial (re-issued certificate) starts a new connection. */
  seen(proxyId: string, service: ServiceRef, serial: string, peer: string): void {
    const now = this.#now();
    const current = this.#seen.get(proxyId);
    if (current !== undefined && current.serial === serial && now - current.lastSeen <= this.#staleMs) {
      current.lastSeen = now;
      return;
    }
    this.#seen.set(proxyId, { proxyId, service, serial, peer, connectedAt: new Date(now).toISOString(), lastSeen: now });
  }

  forget(proxyId: string): void {
    this.#seen.delete(proxyId);
  }

  *connected(): Iterable<ConnectedProxy> {
    const now = this.#now();
    for (const s of [...this.#seen.values()]) {
      if (now - s.lastSeen > this.#staleMs) {
        this.#seen.delete(s.proxyId);
        continue;
      }
      const where = this.#locate?.(s.proxyId);
      yield {
        // The injector's init container always captures (docs/dataplane.md "Capture in pods").
        proxyId: s.proxyId, service: s.service, serial: s.serial, connectedAt: s.connectedAt, via: "repo", capture: "transparent",
        addresses: where?.addresses ?? [s.peer],
        ...(where === undefined ? {} : { pod: where.pod }),
      };
    }
  }

  get size(): number {
    return this.#seen.size;
  }
}
