/**
 * The agent's mesh DNS (docs/dataplane.md "Mesh names"): the server, the
 * resolver hook and the name table, with one owner. Start order: the last
 * table from disk first, then the server, then the hook, so the host's
 * resolver is never pointed at an address that does not answer; stop in
 * reverse, so it is put back before the server goes.
 */
import type { HostPort } from "../../common/address.js";
import { formatHostPort } from "../../common/address.js";
import { errorCode, errorMessage } from "../../common/errors.js";
import type { Logger } from "../../common/logger.js";
import { Forwarder } from "./forwarder.js";
import { NameLookup, nameTableSchema, type NameTable } from "./name-table.js";
import type { ResolverHook } from "./resolver-hook.js";
import { DnsServer, type DnsStats } from "./server.js";
import { upstreamsFrom, type Upstream } from "./upstreams.js";

/** Zones owned before the first table arrives (the controller's default trust domain). */
export const DEFAULT_ZONES = ["svc.cluster.local", "svc"] as const;
const UPSTREAM_REFRESH_MS = 10_000;

export interface NameTableStore {
  load(): Promise<NameTable | undefined>;
  save(table: NameTable): Promise<void>;
}

export interface MeshDnsOptions {
  readonly listen: HostPort;
  readonly hook: ResolverHook;
  readonly store: NameTableStore;
  readonly logger: Logger;
  readonly forwardTimeoutMs: number;
  readonly maxInFlight: number;
  /** Fixed upstreams; default: read from the file the hook names (the original resolv.conf, resolved's list). */
  readonly upstreams?: readonly Upstream[];
}

export type DnsState = "starting" | "serving" | "failed" | "stopped";

/** What Hello and GET /status report (proto DnsStatus, field names a contract). */
export interface MeshDnsStatus {
  readonly state: DnsState;
  readonly listen: string;
  readonly hook: string;
  readonly namesHash: string;
  readonly names: number;
  readonly detail: string;
  readonly upstreams: readonly string[];
  readonly stats: DnsStats | null;
}

export class MeshDns {
  readonly #o: MeshDnsOptions;
  readonly #log: Logger;
  #names = new NameLookup(undefined, DEFAULT_ZONES);
  #server: DnsServer | undefined;
  #upstreams: readonly Upstream[] = [];
  #timer: NodeJS.Timeout | undefined;
  #state: DnsState = "starting";
  #detail = "";

  constructor(options: MeshDnsOptions) {
    this.#o = options;
    this.#log = options.logger.child({ component: "dns" });
  }

  get port(): number {
    return this.#server?.port ?? this.#o.listen.port;
  }

  /** Never throws for a hook failure: mesh names still resolve when asked directly; the status says why. */
  async start(): Promise<void> {
    try {
      const stored = await this.#o.store.load();
      if (stored !== undefined) this.#names = new NameLookup(stored, DEFAULT_ZONES);
    } catch (err) {
      this.#log.warn({ err: errorMessage(err), code: errorCode(err) }, "the stored mesh names are unreadable; starting without them until the controller sends new ones");
    }
    const forwarder = new Forwarder({ upstreams: () => this.#upstreams, timeoutMs: this.#o.forwardTimeoutMs, maxInFlight: this.#o.maxInFlight });
    const server = new DnsServer({ listen: this.#o.listen, names: () => this.#names, forwarder, logger: this.#o.logger });
    await server.start();
    this.#server = server;
    try {
      await this.#o.hook.install(this.#names.zones);
    } catch (err) {
      this.#detail = `resolver hook: ${errorMessage(err)}`;
      this.#log.error({ err: errorMessage(err), code: errorCode(err) }, "could not hook the host's resolver; mesh names resolve only when asked at the DNS address directly");
    }
    await this.#refreshUpstreams();
    this.#timer = setInterval(() => void this.#refreshUpstreams(), UPSTREAM_REFRESH_MS);
    this.#timer.unref();
    this.#state = "serving";
  }

  /** A table from the controller: validated, stored, then served. Same hash: nothing to do. */
  async setTable(input: unknown): Promise<boolean> {
    const parsed = nameTableSchema.safeParse(input);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      this.#log.error({ code: "MESHFED_DNS_NAMES_INVALID", path: issue?.path.join("."), err: issue?.message }, "mesh names from the controller refused; the previous table stays");
      return false;
    }
    const table = parsed.data;
    if (table.hash === this.#names.table?.hash) return false;
    const zonesChanged = table.zones.join() !== this.#names.zones.join();
    await this.#o.store.save(table);
    this.#names = new NameLookup(table, DEFAULT_ZONES);
    this.#log.info({ names: table.records.length, hash: table.hash }, "mesh names updated");
    if (zonesChanged && this.#state === "serving") {
      // The resolved drop-in names the zones as routing domains: it follows them.
      await this.#o.hook.install(table.zones).catch((err: unknown) => this.#log.error({ err: errorMessage(err), code: errorCode(err) }, "could not update the resolver hook for new mesh zones"));
    }
    return true;
  }

  status(): MeshDnsStatus {
    return {
      state: this.#state,
      listen: formatHostPort({ host: this.#o.listen.host, port: this.port }),
      hook: this.#o.hook.active,
      namesHash: this.#names.table?.hash ?? "",
      names: this.#names.size,
      detail: this.#detail,
      upstreams: this.#upstreams.map((u) => formatHostPort(u)),
      stats: this.#server?.stats() ?? null,
    };
  }

  /** Restores the host's resolver, then stops answering. Idempotent. */
  async close(): Promise<void> {
    if (this.#state === "stopped") return;
    this.#state = "stopped";
    clearInterval(this.#timer);
    await this.#o.hook.restore().catch((err: unknown) => this.#log.error({ err: errorMessage(err), code: errorCode(err) }, "could not restore the host's resolver"));
    await this.#server?.close();
  }

  async #refreshUpstreams(): Promise<void> {
    if (this.#o.upstreams !== undefined) {
      this.#upstreams = this.#o.upstreams;
      return;
    }
    const ownAddress = { host: this.#o.listen.host, port: this.port };
    this.#upstreams = upstreamsFrom(await this.#o.hook.upstreamsText(), ownAddress);
  }
}
