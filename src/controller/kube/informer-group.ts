/**
 * Runs the informers of one component (provider, SMI store, MeshConfig) under
 * one stop signal and answers the questions its status() asks: are they all
 * synced, is any of them restarting, what failed last.
 */
import type { KubernetesObject } from "@kubernetes/client-node";
import { MeshfedError } from "../../common/errors.js";
import type { ProviderError } from "../source-status.js";
import { KUBE_ERROR_CODES } from "./errors.js";
import type { SupervisedInformer } from "./supervised-informer.js";

export type GroupState = "starting" | "synced" | "degraded" | "stopped";

export class InformerGroup {
  readonly #informers: readonly SupervisedInformer<KubernetesObject>[];
  readonly #what: string;
  #runs: Promise<void>[] = [];
  #started = false;
  #stopped = false;

  constructor(what: string, informers: readonly SupervisedInformer<KubernetesObject>[]) {
    this.#what = what;
    this.#informers = informers;
  }

  /**
   * Starts every informer; resolves once all of them listed and watch.
   * Rejects with MESHFED_KUBE_STOPPED when `signal` aborts first (an API
   * server that cannot be reached keeps us retrying, and not ready, until then).
   */
  async start(signal: AbortSignal): Promise<void> {
    if (this.#started) throw new MeshfedError("MESHFED_PROVIDER_STARTED", `${this.#what} was already started`);
    this.#started = true;
    this.#runs = this.#informers.map((i) => i.run(signal));
    void Promise.allSettled(this.#runs).then(() => (this.#stopped = true));
    let onAbort: (() => void) | undefined;
    const aborted = new Promise<"aborted">((resolve) => {
      onAbort = () => resolve("aborted");
      if (signal.aborted) onAbort();
      else signal.addEventListener("abort", onAbort, { once: true });
    });
    try {
      const outcome = await Promise.race([Promise.all(this.#informers.map((i) => i.synced)), aborted]);
      if (outcome === "aborted") {
        const last = this.lastError();
        throw new MeshfedError(KUBE_ERROR_CODES.stopped, `${this.#what}: stopped before the first sync${last === null ? "" : ` (last error: ${last.message})`}`, { cause: last ?? undefined });
      }
    } finally {
      if (onAbort !== undefined) signal.removeEventListener("abort", onAbort);
    }
  }

  /** Resolves when every informer has stopped (after the signal aborted). */
  async stopped(): Promise<void> {
    await Promise.allSettled(this.#runs);
  }

  state(): GroupState {
    if (this.#stopped || (this.#started && this.#informers.every((i) => i.state === "stopped"))) return "stopped";
    if (this.#informers.some((i) => i.lastError !== null)) return "degraded";
    if (this.#started && this.#informers.every((i) => i.state === "watching")) return "synced";
    return "starting";
  }

  lastError(): MeshfedError | null {
    for (const i of this.#informers) if (i.lastError !== null) return i.lastError;
    return null;
  }

  /** lastError() as status() reports it. */
  lastProviderError(): ProviderError | null {
    for (const i of this.#informers) {
      if (i.lastError !== null) return { code: i.lastError.code, message: i.lastError.message, at: i.lastErrorAt };
    }
    return null;
  }

  restarts(): number {
    return this.#informers.reduce((n, i) => n + i.restarts, 0);
  }
}
