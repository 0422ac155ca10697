/**
 * The on-prem endpoint provider: endpoints come from a hosts file an operator
 * edits by hand. DESIGN.md §2 (providers/onprem), §3 flow 1.
 *
 * The watch → debounce → reload → keep-last-good lifecycle and its states are
 * controller/watched-source.ts's (shared with the SMI directory); this file
 * says what a read of the hosts file is and how it applies.
 *
 * Bad input policy: a reload that fails (YAML error, invalid host, file
 * deleted) NEVER empties the view. Emptying it would withdraw every on-prem
 * endpoint from every proxy because of one typo; the last good view stays, the
 * error is logged, counted and shown in status() until a good reload clears it.
 * At start there is no last good view, so a missing or invalid file makes
 * start() reject: the operator named that file and should hear about it now.
 */
import { readFile } from "node:fs/promises";
import type { Logger } from "../../../common/logger.js";
import type { ControllerMetrics } from "../../../common/metrics.js";
import { MeshfedError, errorCode, errorMessage } from "../../../common/errors.js";
import { compareServiceRefs, serviceKey, type ServiceKey, type ServiceRef } from "../../../common/service.js";
import { WatchedSource, type WatchedRead } from "../../watched-source.js";
import { compareEndpoints, countEndpoints, declared } from "../endpoint-lists.js";
import { ViewBackedProvider } from "../view-backed-provider.js";
import type { EndpointProvider, ProviderEndpoint, ProviderError, ProviderStatus, ServiceEndpoints } from "../types.js";
import { HOSTS_ERROR_CODES, parseHostsFile, type HostsFile } from "./hosts-file.js";
import { Listeners } from "../../../common/emitter.js";
import type { HealthProbe } from "../../../common/health-probe.js";

export interface OnPremProviderOptions {
  /** The hosts file; kept as given in provenance (`<file>#<host>`). */
  readonly file: string;
  readonly logger: Logger;
  readonly metrics?: ControllerMetrics;
  /** Quiet time after a change before reloading. Default 100 ms. */
  readonly debounceMs?: number;
  /** Safety-net stat poll interval (see common/watch-file.ts). Default 2000 ms. */
  readonly pollMs?: number;
}

const PROVIDER_ID = "onprem";

export class OnPremProvider extends ViewBackedProvider implements EndpointProvider {
  readonly id = PROVIDER_ID;
  readonly #options: OnPremProviderOptions;
  readonly #log: Logger;
  readonly #source: WatchedSource<HostsFile>;
  #hosts = 0;
  #lastError: ProviderError | null = null;
  /** service → host address → the probes its entries declare (docs/agent.md, "Health probes"). */
  #probes = new Map<ServiceKey, Map<string, HealthProbe[]>>();
  readonly #probeListeners = new Listeners<readonly ServiceKey[]>();

  constructor(options: OnPremProviderOptions) {
    super();
    this.#options = options;
    this.#log = options.logger.child({ component: "provider/onprem", file: options.file });
    this.#source = new WatchedSource<HostsFile>({
      path: options.file,
      kind: "file",
      what: "the onprem provider",
      logger: this.#log,
      timing: options,
      read: () => this.#read(),
      apply: (parsed) => {
        const changed = this.#apply(parsed);
        return { state: "synced", announce: () => this.announce(changed) };
      },
      reject: ([err]) => this.#recordError(err),
    });
  }

  start(signal: AbortSignal): Promise<void> {
    return this.#source.start(signal);
  }

  /** Re-reads the file now (the watcher calls this; tests and a SIGHUP handler may too). */
  reload(): Promise<void> {
    return this.#source.reload();
  }

  status(): ProviderStatus {
    const endpoints = countEndpoints(this.view);
    return {
      id: this.id,
      kind: "endpoints",
      state: this.#source.state,
      lastSync: this.#source.lastSync,
      lastError: this.#lastError,
      counts: { hosts: this.#hosts, services: this.view.size, endpoints },
    };
  }

  async #read(): Promise<WatchedRead<HostsFile>> {
    const file = this.#options.file;
    let text: string;
    try {
      text = await readFile(file, "utf8");
    } catch (err) {
      const missing = (err as NodeJS.ErrnoException).code === "ENOENT";
      const error = new MeshfedError(
        missing ? HOSTS_ERROR_CODES.notFound : HOSTS_ERROR_CODES.read,
        missing ? `${file}: hosts file not found` : `${file}: cannot read hosts file: ${errorMessage(err)}`,
        { cause: err, details: { file } },
      );
      return { ok: false, errors: [error] };
    }
    try {
      return { ok: true, value: parseHostsFile(text, file) };
    } catch (err) {
      const error = err instanceof MeshfedError ? err : new MeshfedError(HOSTS_ERROR_CODES.invalid, `${file}: ${errorMessage(err)}`, { cause: err, details: { file } });
      return { ok: false, errors: [error] };
    }
  }

  /**
   * The probes the hosts file declares for a service on any of these host
   * addresses, sorted by port. The controller sends them to the agent there;
   * it never probes a host itself.
   */
  declaredProbes(service: ServiceRef, addresses: readonly string[]): HealthProbe[] {
    const byHost = this.#probes.get(serviceKey(service));
    if (byHost === undefined) return [];
    const out = new Map<number, HealthProbe>();
    for (const a of addresses) for (const p of byHost.get(a.toLowerCase()) ?? []) if (!out.has(p.port)) out.set(p.port, p);
    return [...out.values()].sort((a, b) => a.port - b.port);
  }

  /** Called with the services whose declared probes changed on a reload. */
  onProbesChange(fn: (changed: readonly ServiceKey[]) => void): () => void {
    return this.#probeListeners.add(fn);
  }

  /** Replaces the view; returns the keys whose endpoint set changed. */
  #apply(parsed: HostsFile): ServiceKey[] {
    const probes = buildProbes(parsed);
    const probesChanged = [...new Set([...probes.keys(), ...this.#probes.keys()])]
      .filter((k) => JSON.stringify([...(probes.get(k) ?? [])]) !== JSON.stringify([...(this.#probes.get(k) ?? [])]));
    this.#probes = probes;
    if (probesChanged.length > 0) this.#probeListeners.emit(probesChanged.sort());
    const next = buildView(parsed);
    const changed = this.replaceView(next);
    this.#hosts = parsed.hosts.length;
    const wasDegraded = this.#lastError !== null;
    this.#lastError = null;
    const m = this.#options.metrics;
    if (m !== undefined) {
      m.providerSyncs.inc({ provider: PROVIDER_ID });
      m.providerServices.set({ provider: PROVIDER_ID }, next.size);
      m.providerEndpoints.set({ provider: PROVIDER_ID }, countEndpoints(next));
    }
    this.#log.info({ hosts: parsed.hosts.length, services: next.size, changed: changed.length, recovered: wasDegraded }, "hosts file loaded");
    return changed.sort();
  }

  #recordError(err: MeshfedError): void {
    const d = err.details;
    this.#lastError = {
      code: err.code,
      message: err.message,
      at: new Date().toISOString(),
      file: this.#options.file,
      ...(typeof d.line === "number" ? { line: d.line } : {}),
      ...(typeof d.column === "number" ? { column: d.column } : {}),
    };
    this.#options.metrics?.providerErrors.inc({ provider: PROVIDER_ID, code: errorCode(err) });
    this.#log.error(
      { code: err.code, line: d.line, column: d.column, path: d.path, keptServices: this.view.size },
      `hosts file rejected, keeping the last good view: ${err.message}`,
    );
  }

}

function buildProbes(parsed: HostsFile): Map<ServiceKey, Map<string, HealthProbe[]>> {
  const out = new Map<ServiceKey, Map<string, HealthProbe[]>>();
  for (const host of parsed.hosts) {
    for (const svc of host.services) {
      if (svc.probe === undefined) continue;
      const key = serviceKey({ namespace: svc.namespace, name: svc.name });
      let byHost = out.get(key);
      if (byHost === undefined) out.set(key, (byHost = new Map<string, HealthProbe[]>()));
      const list = byHost.get(host.address) ?? [];
      list.push(svc.probe);
      byHost.set(host.address, list);
    }
  }
  return out;
}

function buildView(parsed: HostsFile): Map<ServiceKey, ServiceEndpoints> {
  const collected = new Map<ServiceKey, { service: ServiceRef; endpoints: ProviderEndpoint[] }>();
  for (const host of parsed.hosts) {
    const source = `${parsed.file}#${host.name}`;
    for (const svc of host.services) {
      const service = { namespace: svc.namespace, name: svc.name };
      const key = serviceKey(service);
      let entry = collected.get(key);
      if (entry === undefined) {
        entry = { service, endpoints: [] };
        collected.set(key, entry);
      }
      entry.endpoints.push({ ip: host.address, port: svc.port, source, ...declared(svc) });
    }
  }
  const sorted = [...collected.values()].sort((a, b) => compareServiceRefs(a.service, b.service));
  const view = new Map<ServiceKey, ServiceEndpoints>();
  for (const entry of sorted) {
    entry.endpoints.sort(compareEndpoints);
    view.set(serviceKey(entry.service), { service: entry.service, endpoints: Object.freeze(entry.endpoints) });
  }
  return view;
}

