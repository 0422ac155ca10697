/**
 * The Azure endpoint provider: VMs and VM scale-set instances (Uniform and
 * Flexible) become endpoints, mapped to services by tags or config rules.
 * DESIGN.md §2 (providers/azure), §3 flow 1; docs/azure.md.
 *
 * States: "starting" -> "synced" | "degraded" once every scope (resource
 * group, or the whole subscription) has been tried (start() resolves);
 * "synced" <-> "degraded" as scopes fail or recover; any -> "stopped" when
 * the stop signal aborts. Start twice throws.
 *
 * First sync: start() resolves once every scope has been attempted, failed
 * ones shown in status() with the provider "degraded", so one bad resource
 * group cannot hold readiness forever. Only when *every* scope failed for a
 * reason no scope can escape (no token: MESHFED_AZURE_AUTH; ARM unreachable:
 * MESHFED_AZURE_UNREACHABLE) does start() reject, with that error.
 *
 * Bad input policy, as for the on-prem file: a failed scope keeps its last
 * good view. An instance that stops being seen (deleted, stopped, untagged)
 * keeps its endpoints until a successful read of its scope at least
 * `removalGrace` after it was last seen, so one odd answer does not flap
 * every proxy. A broken tag skips that one instance, named in status(),
 * logs and meshfed_provider_errors_total{code="MESHFED_AZURE_BAD_TAG"}.
 *
 * Replicas (docs/ha.md): only the leader polls. A paused provider reads
 * nothing from ARM and serves the view adopt() hands it; on resuming it
 * first takes that view as its last good one (instances seeded from the
 * endpoints' resource ids), so a failed first poll of a new leader keeps the
 * endpoints instead of emptying the catalog.
 */
import { SerialQueue } from "../../../common/serial-queue.js";
import type { TokenCredential } from "@azure/core-auth";
import type { Logger } from "../../../common/logger.js";
import type { ControllerMetrics } from "../../../common/metrics.js";
import { MeshfedError, errorCode } from "../../../common/errors.js";
import type { ProviderError, ProviderState, ProviderStatus, ServiceEndpoints, SharedViewProvider } from "../types.js";
import { createArmClients, createCredential, type ArmClients } from "./arm-clients.js";
import type { AzureProviderConfig } from "./config.js";
import { AZURE_ERROR_CODES, GLOBAL_FAILURES, toAzureError } from "./errors.js";
import type { ThrottleEvent } from "./retry-policy.js";
import { readScope, type AttestableInstance, type InstanceProblem, type ObservedEndpoint, type Scope } from "./scope-reader.js";
import { countEndpoints } from "../endpoint-lists.js";
import { ViewBackedProvider } from "../view-backed-provider.js";
import { buildView, seedEntries, viewOf } from "./view.js";

export interface AzureRetrySettings {
  readonly maxRetries?: number;
  readonly baseDelayMs?: number;
  readonly maxDelayMs?: number;
  readonly maxRetryAfterMs?: number;
}

export interface AzureProviderOptions {
  /** The parsed `providers.azure` section (durations already in ms). */
  readonly config: AzureProviderConfig;
  readonly logger: Logger;
  readonly metrics?: ControllerMetrics;
  /** Use this credential instead of building one from `config.credential` (embedding, tests). */
  readonly credential?: TokenCredential;
  /**
   * Extra trusted CA certificates (PEM) for ARM and the authority host, e.g.
   * a TLS-inspecting proxy's CA. Without it Node's defaults apply, which
   * include NODE_EXTRA_CA_CERTS (read once, at process start).
   */
  readonly ca?: string;
  readonly retry?: AzureRetrySettings;
  /** Fraction of the interval each wait is randomly moved by. Default 0.1. */
  readonly jitter?: number;
  /** Parallel per-instance / per-scale-set calls within a scope. Default 8. */
  readonly concurrency?: number;
}

export interface ScopeStatus {
  /** The resource group, or "*" for the whole subscription. */
  readonly name: string;
  readonly state: "pending" | "synced" | "failed";
  readonly lastSync: string | null;
  readonly lastError: ProviderError | null;
  readonly instances: number;
  readonly pendingRemoval: number;
}

export interface AzureProviderStatus extends ProviderStatus {
  readonly subscriptionId: string;
  readonly scopes: readonly ScopeStatus[];
  /** Instances skipped in the last read of their scope, by resource id: bad tags, no address. */
  readonly problems: readonly InstanceProblem[];
  /** When throttling asked for a wait longer than we sleep inside a sync: the next sync starts no earlier. */
  readonly throttledUntil: string | null;
}

interface Entry {
  readonly id: string;
  readonly name: string;
  readonly endpoints: readonly ObservedEndpoint[];
  lastSeen: number;
  missing: boolean;
}

interface ScopeState {
  readonly scope: Scope;
  readonly name: string;
  entries: Map<string, Entry>;
  /** Every instance of the last successful read, by lower-cased vmId (no removal grace: attestation wants the present). */
  attestable: Map<string, AttestableInstance>;
  problems: readonly InstanceProblem[];
  state: ScopeStatus["state"];
  lastSync: string | null;
  lastError: ProviderError | null;
}

const PROVIDER_ID = "azure";

export class AzureProvider extends ViewBackedProvider implements SharedViewProvider {
  readonly id = PROVIDER_ID;
  readonly #config: AzureProviderConfig;
  readonly #options: AzureProviderOptions;
  readonly #log: Logger;
  readonly #scopes: ScopeState[];
  #state: ProviderState = "starting";
  #started = false;
  #lastSync: string | null = null;
  #clients: ArmClients | undefined;
  #signal: AbortSignal | undefined;
  #timer: NodeJS.Timeout | undefined;
  readonly #syncs = new SerialQueue();
  #notBefore = 0;
  #knownProblems = new Set<string>();
  #polling = true;
  /** The view came from adopt(), not from this provider's own scope entries. */
  #adopted = false;
  /** When the last sync started (ms), and the on-demand one under way, for refreshForAttestation(). */
  #lastSyncStarted = 0;
  #refreshing: Promise<void> | undefined;

  constructor(options: AzureProviderOptions) {
    super();
    this.#options = options;
    this.#config = options.config;
    this.#log = options.logger.child({ component: "provider/azure", subscriptionId: options.config.subscriptionId });
    const groups = [...new Map(options.config.resourceGroups.map((g) => [g.toLowerCase(), g])).values()];
    const scopes: Scope[] = groups.length === 0 ? [{ resourceGroup: undefined }] : groups.map((g) => ({ resourceGroup: g }));
    this.#scopes = scopes.map((scope) => ({ scope, name: scope.resourceGroup ?? "*", entries: new Map(), attestable: new Map(), problems: [], state: "pending", lastSync: null, lastError: null }));
  }

  async start(signal: AbortSignal): Promise<void> {
    if (this.#started) throw new MeshfedError("MESHFED_PROVIDER_STARTED", "the azure provider was already started");
    this.#started = true;
    this.#signal = signal;
    const config = this.#config;
    const retry = { ...this.#options.retry, signal, onThrottle: (e: ThrottleEvent) => this.#onThrottle(e) };
    let credential: TokenCredential;
    try {
      credential = this.#options.credential ?? (await createCredential(config.credential, { authorityHost: config.authorityHost, ca: this.#options.ca, retry }));
    } catch (err) {
      const e = toAzureError(err, "build the Azure credential");
      this.#fail(e);
      throw e;
    }
    this.#clients = createArmClients({
      subscriptionId: config.subscriptionId,
      endpoint: config.endpoint,
      credential,
      ca: this.#options.ca,
      retry,
    });
    if (!this.#polling) {
      this.#log.info({ endpoint: config.endpoint }, "Azure discovery paused: another replica polls ARM");
      signal.addEventListener("abort", () => this.#stop(), { once: true });
      return;
    }
    this.#log.info({ endpoint: config.endpoint, scopes: this.#scopes.map((s) => s.name), credential: this.#options.credential === undefined ? config.credential.type : "injected" }, "starting Azure discovery");
    await this.syncNow();
    if (signal.aborted) {
      this.#stop();
      return;
    }
    const failures = this.#scopes.map((s) => s.lastError);
    if (failures.every((e) => e !== null && GLOBAL_FAILURES.has(e.code))) {
      const first = failures[0]!;
      const err = new MeshfedError(first.code, `Azure discovery cannot start: ${first.message}`);
      this.#stop();
      throw err;
    }
    signal.addEventListener("abort", () => this.#stop(), { once: true });
    this.#schedule();
  }

  /** Runs one full sync now (the timer calls this; tests may too). Serialised with the timer's. */
  syncNow(): Promise<void> {
    return this.#enqueue(() => this.#syncAll());
  }

  pausePolling(): void {
    if (!this.#polling) return;
    this.#polling = false;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#started && !this.#isStopped()) this.#log.info("Azure polling paused");
  }

  async resumePolling(): Promise<void> {
    if (!this.#started) throw new MeshfedError("MESHFED_PROVIDER_NOT_STARTED", "resumePolling() before start()");
    if (this.#polling || this.#isStopped()) return;
    this.#polling = true;
    this.#log.info("Azure polling resumed");
    await this.#enqueue(async () => {
      if (this.#adopted) {
        // The adopted view is newer than our own entries: it becomes the last good view.
        for (const s of this.#scopes) s.entries = new Map();
        for (const { entry, resourceGroup } of seedEntries(this.view.values(), Date.now())) {
          const scope = this.#scopes.find((s) => s.scope.resourceGroup?.toLowerCase() === resourceGroup) ?? this.#scopes.find((s) => s.scope.resourceGroup === undefined);
          scope?.entries.set(entry.id.toLowerCase(), { ...entry, missing: false });
        }
        this.#adopted = false;
      }
      await this.#syncAll();
    });
    this.#schedule();
  }

  adopt(services: readonly ServiceEndpoints[]): void {
    if (this.#polling) throw new MeshfedError("MESHFED_PROVIDER_POLLING", "adopt() while polling: pause first");
    const next = viewOf(services);
    const changed = this.replaceView(next);
    this.#adopted = true;
    if (this.#state === "starting") this.#state = "synced";
    this.#options.metrics?.providerServices.set({ provider: PROVIDER_ID }, next.size);
    this.#options.metrics?.providerEndpoints.set({ provider: PROVIDER_ID }, countEndpoints(next));
    this.announce(changed);
  }

  #enqueue(fn: () => Promise<void>): Promise<void> {
    return this.#syncs.run(fn);
  }

  status(): AzureProviderStatus {
    const endpoints = countEndpoints(this.view);
    const scopes = this.#scopes.map((s) => ({
      name: s.name,
      state: s.state,
      lastSync: s.lastSync,
      lastError: s.lastError,
      instances: [...s.entries.values()].filter((e) => !e.missing).length,
      pendingRemoval: [...s.entries.values()].filter((e) => e.missing).length,
    }));
    const problems = this.#scopes.flatMap((s) => s.problems);
    const failing = this.#scopes.filter((s) => s.lastError !== null).map((s) => s.lastError!);
    const lastError = failing.sort((a, b) => (a.at < b.at ? 1 : -1))[0] ?? null;
    return {
      id: this.id,
      kind: "endpoints",
      state: this.#state,
      lastSync: this.#lastSync,
      lastError,
      counts: {
        scopes: scopes.length,
        scopesFailed: failing.length,
        instances: scopes.reduce((n, s) => n + s.instances, 0),
        pendingRemoval: scopes.reduce((n, s) => n + s.pendingRemoval, 0),
        services: this.view.size,
        endpoints,
        badTags: problems.filter((p) => p.code === AZURE_ERROR_CODES.badTag).length,
        noAddress: problems.filter((p) => p.code === AZURE_ERROR_CODES.noAddress).length,
      },
      subscriptionId: this.#config.subscriptionId,
      scopes,
      problems,
      throttledUntil: this.#notBefore > Date.now() ? new Date(this.#notBefore).toISOString() : null,
    };
  }

  /**
   * The VM or scale-set instance IMDS names `vmId`, as the last successful
   * read of its scope saw it; undefined when none did. Only meaningful while
   * attestationReady() (a paused replica's reads are as old as its last lead).
   */
  attestableInstance(vmId: string): AttestableInstance | undefined {
    const key = vmId.toLowerCase();
    for (const s of this.#scopes) {
      const found = s.attestable.get(key);
      if (found !== undefined) return found;
    }
    return undefined;
  }

  /** Whether this replica reads ARM itself and has read some scope: only then can a vmId be checked. */
  attestationReady(): boolean {
    return this.#started && this.#polling && !this.#isStopped() && !this.#adopted && this.#scopes.some((s) => s.lastSync !== null);
  }

  /**
   * A sync now, for a vmId not seen yet (an instance of a scale-out that
   * booted between two polls), unless one started within `minIntervalMs`:
   * unknown vmIds cannot make us call ARM more often than that. Concurrent
   * callers share one sync.
   */
  refreshForAttestation(minIntervalMs: number): Promise<void> {
    if (!this.attestationReady() || Date.now() - this.#lastSyncStarted < minIntervalMs) return Promise.resolve();
    this.#refreshing ??= this.syncNow().finally(() => (this.#refreshing = undefined));
    return this.#refreshing;
  }

  async #syncAll(): Promise<void> {
    const clients = this.#clients;
    if (clients === undefined || this.#state === "stopped") return;
    const started = Date.now();
    this.#lastSyncStarted = started;
    await Promise.all(this.#scopes.map((s) => this.#syncScope(s, clients)));
    // Paused meanwhile (this replica stepped down): the view is no longer ours to set.
    if (this.#isStopped() || !this.#polling) return;
    const next = buildView(this.#scopes.flatMap((s) => [...s.entries.values()]));
    const changed = this.replaceView(next);
    const failed = this.#scopes.filter((s) => s.state === "failed").length;
    this.#state = failed === 0 ? "synced" : "degraded";
    if (failed < this.#scopes.length) this.#lastSync = new Date().toISOString();
    const m = this.#options.metrics;
    if (m !== undefined) {
      if (failed === 0) m.providerSyncs.inc({ provider: PROVIDER_ID });
      m.providerServices.set({ provider: PROVIDER_ID }, next.size);
      m.providerEndpoints.set({ provider: PROVIDER_ID }, countEndpoints(next));
    }
    this.#log.debug({ ms: Date.now() - started, services: next.size, changed: changed.length, failedScopes: failed }, "Azure sync done");
    this.announce(changed);
  }

  async #syncScope(s: ScopeState, clients: ArmClients): Promise<void> {
    try {
      const reading = await readScope({ clients, scope: s.scope, tagPrefix: this.#config.tagPrefix, rules: this.#config.rules, concurrency: this.#options.concurrency ?? 8 });
      if (this.#isStopped()) return;
      const now = Date.now();
      const next = new Map<string, Entry>();
      for (const inst of reading.instances) next.set(inst.id.toLowerCase(), { id: inst.id, name: inst.name, endpoints: inst.endpoints, lastSeen: now, missing: false });
      for (const [key, old] of s.entries) {
        if (next.has(key)) continue;
        if (now - old.lastSeen < this.#config.removalGrace) {
          if (!old.missing) this.#log.info({ resource: old.id, scope: s.name, graceMs: this.#config.removalGrace }, "instance no longer seen; keeping its endpoints for the removal grace");
          next.set(key, { ...old, missing: true });
        } else {
          this.#log.info({ resource: old.id, scope: s.name }, "instance gone past the removal grace; removing its endpoints");
        }
      }
      s.entries = next;
      s.attestable = new Map(reading.attestable.map((a) => [a.vmId, a]));
      this.#recordProblems(s, reading.problems);
      const recovered = s.state === "failed";
      s.state = "synced";
      s.lastError = null;
      s.lastSync = new Date(now).toISOString();
      if (recovered) this.#log.info({ scope: s.name }, "scope recovered");
      this.#log.debug({ scope: s.name, ...reading.counts, instances: reading.instances.length }, "scope read");
    } catch (err) {
      if (this.#isStopped() || this.#signal?.aborted === true) return;
      const e = toAzureError(err, `read ${s.name === "*" ? "the subscription" : `resource group ${s.name}`}`);
      s.state = "failed";
      s.lastError = { code: e.code, message: e.message, at: new Date().toISOString() };
      this.#options.metrics?.providerErrors.inc({ provider: PROVIDER_ID, code: errorCode(e) });
      this.#log.error({ code: e.code, scope: s.name, keptInstances: s.entries.size }, `Azure scope failed, keeping its last good view: ${e.message}`);
    }
  }

  /** Logs and counts each problem once, when first seen; status() lists all current ones. */
  #recordProblems(s: ScopeState, problems: readonly InstanceProblem[]): void {
    const keys = new Set<string>();
    for (const p of problems) {
      const key = `${p.id.toLowerCase()}|${p.code}|${p.message}`;
      keys.add(key);
      if (this.#knownProblems.has(key)) continue;
      this.#knownProblems.add(key);
      this.#options.metrics?.providerErrors.inc({ provider: PROVIDER_ID, code: p.code });
      this.#log.warn({ code: p.code, resource: p.id, name: p.name, scope: s.name }, `skipping Azure instance: ${p.message}`);
    }
    for (const old of s.problems) {
      const key = `${old.id.toLowerCase()}|${old.code}|${old.message}`;
      if (!keys.has(key)) this.#knownProblems.delete(key);
    }
    s.problems = problems;
  }

  #onThrottle(e: ThrottleEvent): void {
    this.#log.warn({ status: e.status, url: e.url, waitMs: e.waitMs, retryAfter: e.retryAfter, retrying: e.retrying }, "ARM throttled a request");
    if (!e.retrying && e.retryAfter) this.#notBefore = Math.max(this.#notBefore, Date.now() + e.waitMs);
  }

  #schedule(): void {
    if (this.#isStopped() || !this.#polling || this.#timer !== undefined) return;
    const jitter = this.#options.jitter ?? 0.1;
    const interval = this.#config.interval * (1 + jitter * (2 * Math.random() - 1));
    const wait = Math.max(interval, this.#notBefore - Date.now());
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      // Checked when the sync would run, not when it was scheduled: a sync
      // already queued behind this one may have been told to wait.
      void this.#enqueue(() => (Date.now() < this.#notBefore ? Promise.resolve() : this.#syncAll())).finally(() => this.#schedule());
    }, wait);
    // The admin server and gRPC keep the controller alive; a poll timer alone must not.
    this.#timer.unref();
  }

  #fail(err: MeshfedError): void {
    this.#options.metrics?.providerErrors.inc({ provider: PROVIDER_ID, code: err.code });
    this.#log.error({ code: err.code }, err.message);
    this.#stop();
  }

  // A method, not an inline comparison: TypeScript narrows #state across awaits that may stop us.
  #isStopped(): boolean {
    return this.#state === "stopped";
  }

  #stop(): void {
    if (this.#state !== "stopped") this.#log.info("Azure discovery stopped");
    this.#state = "stopped";
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
