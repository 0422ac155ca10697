/**
 * One proxy's Connect stream. It owns the write side: a slow proxy gets
 * back-pressure, not an unbounded queue. At most MAX_IN_FLIGHT messages are
 * handed to gRPC and not yet flushed to the transport; beyond that only the
 * newest CA bundle, service certificate and config (and, during a CA
 * rotation, renewal request and proxy certificate) are kept, one of each,
 * and older pending ones are dropped (newest version wins). A proxy that
 * stops reading therefore holds a bounded amount of memory, and pushes to
 * the other proxies never wait for it.
 */
import type { CaptureMode } from "../../common/app-protocol.js";
import type * as grpc from "@grpc/grpc-js";
import type { ServiceRef } from "../../common/service.js";
import type { AgentMessage__Output, ControllerMessage } from "../../common/proto.js";
import type { CertificateWithKey } from "../certificates/types.js";
import type { ProxyConfig } from "../drivers/types.js";
import { EncodedControllerMessage, encodeConfigMessage, rememberSentFiles, type OutgoingControllerMessage } from "./config-message.js";
import { meshNamesMessage, type MeshNameTable } from "./mesh-names.js";
import type { EndpointHealthInfo } from "../providers/types.js";
import { toWireProbe, type HealthProbe } from "../../common/health-probe.js";

/** Messages written to gRPC whose flush to the transport has not been confirmed yet. */
export const MAX_IN_FLIGHT = 2;

type PendingKind = "caBundle" | "proxyCertificate" | "renewProxyCertificate" | "serviceCertificate" | "config" | "meshNames" | "healthProbes";
/**
 * The order pending messages are sent in: a config may refer to a certificate
 * the agent must already hold, and a certificate from a new root must follow
 * the bundle that trusts it.
 */
const PENDING_ORDER: readonly PendingKind[] = ["caBundle", "proxyCertificate", "renewProxyCertificate", "serviceCertificate", "config", "meshNames", "healthProbes"];

/** Configs are written pre-encoded (config-message.ts); the server's Connect serializer passes them through. */
export type ProxyStream = grpc.ServerDuplexStream<AgentMessage__Output, OutgoingControllerMessage>;

export interface AckRecord {
  readonly version: number;
  readonly hash: string;
  readonly ok: boolean;
  readonly error: string;
  readonly at: string;
}

/** What `GET /api/v1/proxies` shows per proxy; field names are a contract. */
export interface ProxyInfo {
  readonly proxyId: string;
  readonly service: string;
  readonly serial: string;
  readonly peer: string;
  readonly addresses: readonly string[];
  readonly endpoints: readonly { ip: string; port: number }[];
  readonly agentVersion: string;
  readonly proxyVersion: string;
  readonly connectedAt: string;
  readonly config: { readonly version: number; readonly hash: string; readonly driver: string } | null;
  readonly lastAck: AckRecord | null;
  readonly health: { readonly proxyState: string; readonly runningVersion: number; readonly detail: string; readonly at: string } | null;
  readonly serviceCertificate: { readonly serial: string; readonly notAfter: string } | null;
  /** The identity (ServiceAccount `namespace/name`) the proxy speaks for; its service certificate is this account's. */
  readonly identity?: string;
  /**
   * The agent's mesh DNS as of its Hello (null: an agent without it); `namesHash` is the table last
   * sent. Only from the replica holding the stream, like `config`.
   */
  readonly dns?: DnsInfo | null;
  /** The agent's traffic capture (docs/dataplane.md "Capture"); null from an agent that sends none. */
  readonly capture: CaptureInfo | null;
  /**
   * Probed health of its endpoints as the agent last reported it (docs/agent.md,
   * "Health probes"); empty: no probes. Only from the replica holding the stream.
   */
  readonly endpointHealth?: readonly EndpointHealthInfo[];
}

export interface DnsInfo {
  readonly state: string;
  readonly listen: string;
  readonly hook: string;
  readonly namesHash: string;
  readonly names: number;
  readonly detail: string;
}

export interface CaptureInfo {
  readonly mode: CaptureMode;
  readonly installed: boolean;
  readonly outboundActive: boolean;
  readonly errorCode: string;
  readonly error: string;
  /** When the controller last heard it (Hello or Health). */
  readonly at: string;
}

export interface SessionIdentity {
  readonly proxyId: string;
  readonly service: ServiceRef;
  readonly serial: string;
  readonly peer: string;
  /** The account its proxy certificate names (join token); absent: derived from its endpoints. */
  readonly serviceAccount?: string;
}

export class ProxySession {
  readonly identity: SessionIdentity;
  readonly connectedAt = new Date().toISOString();
  addresses: readonly string[] = [];
  endpoints: readonly { ip: string; port: number }[] = [];
  agentVersion = "";
  proxyVersion = "";
  /** The last version sent (or, right after Hello, the version the agent holds). */
  configVersion = 0;
  configHash = "";
  configDriver = "";
  /** performance.now() when the last config version was sent (0: none sent on this stream). */
  configSentAt = 0;
  lastAck: AckRecord | null = null;
  health: ProxyInfo["health"] = null;
  serviceCertificate: { serial: string; notAfter: string } | null = null;
  /** `namespace/account` the last service certificate sent was for ("" before the first). */
  certificateIdentity = "";
  dns: DnsInfo | null = null;
  capture: CaptureInfo | null = null;
  endpointHealth: readonly EndpointHealthInfo[] = [];
  /**
   * sha256 of the shared files the agent holds (its Hello's FileCache, plus
   * those written to it in full on this stream); undefined: an agent without
   * FileCache, which gets every file in full.
   */
  fileCache: Set<string> | undefined = undefined;
  /** The hosts-file probes last sent, as JSON ("" = nothing sent yet on this stream). */
  #probesSent = "";
  readonly #stream: ProxyStream;
  /** Set when gRPC's buffer is over its high-water mark, until "drain". */
  #blocked = false;
  #inFlight = 0;
  readonly #pending = new Map<PendingKind, OutgoingControllerMessage>();
  #ended = false;

  constructor(identity: SessionIdentity, stream: ProxyStream) {
    this.identity = identity;
    this.#stream = stream;
    stream.on("drain", () => this.#drain());
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** Sends a new config version if the rendered hash differs; returns the version sent, or undefined. */
  pushConfig(config: ProxyConfig): number | undefined {
    if (this.#ended || config.hash === this.configHash) return undefined;
    this.configVersion += 1;
    this.configHash = config.hash;
    this.configDriver = config.driver;
    this.configSentAt = performance.now();
    // Only the encoded bytes are kept (until written): never the rendered files as well.
    this.#send("config", encodeConfigMessage(this.configVersion, config, this.fileCache));
    return this.configVersion;
  }

  /** Whether the agent's DNS wants name tables (it said so in Hello). */
  get wantsMeshNames(): boolean {
    return this.dns !== null && this.dns.state !== "disabled";
  }

  /** Sends the mesh name table if its hash differs from the one the agent holds; true when sent. */
  pushMeshNames(table: MeshNameTable): boolean {
    if (this.#ended || this.dns === null || table.hash === this.dns.namesHash) return false;
    this.dns = { ...this.dns, namesHash: table.hash, names: table.records.length };
    this.#send("meshNames", { meshNames: meshNamesMessage(table) });
    return true;
  }

  /**
   * Sends the hosts file's probes for this proxy when they differ from the
   * last sent. The first push after Hello always goes, even empty: the agent
   * may still run probes an earlier connection declared (the hosts file
   * changed while it was away). True when sent.
   */
  pushHealthProbes(probes: readonly HealthProbe[]): boolean {
    const json = JSON.stringify(probes);
    if (this.#ended || json === this.#probesSent) return false;
    this.#probesSent = json;
    this.#send("healthProbes", { healthProbes: { probes: probes.map(toWireProbe) } });
    return true;
  }

  pushServiceCertificate(cert: CertificateWithKey): boolean {
    if (this.#ended || this.serviceCertificate?.serial === cert.serial) return false;
    this.serviceCertificate = { serial: cert.serial, notAfter: cert.notAfter.toISOString() };
    const message: ControllerMessage = {
      serviceCertificate: {
        serial: cert.serial, certificatePem: cert.certificatePem, privateKeyPem: cert.privateKeyPem, caBundlePem: cert.caBundlePem,
        notAfter: cert.notAfter.toISOString(), renewAt: cert.renewAt.toISOString(),
      },
    };
    this.#send("serviceCertificate", message);
    return true;
  }

  sendCaBundle(pem: string): void {
    if (!this.#ended) this.#send("caBundle", { caBundle: { pem } });
  }

  /** CA rotation: asks the agent for a CSR for a new key (proxy-renewal.ts). */
  requestProxyRenewal(reason: string): void {
    if (!this.#ended) this.#send("renewProxyCertificate", { renewProxyCertificate: { reason } });
  }

  sendProxyCertificate(message: NonNullable<ControllerMessage["proxyCertificate"]>): void {
    if (!this.#ended) this.#send("proxyCertificate", { proxyCertificate: message });
  }

  /** Tells the agent why the stream ends, then ends it. */
  shutdown(code: string, reason: string, permanent: boolean): void {
    if (this.#ended) return;
    this.#stream.write({ shutdown: { code, reason, permanent } });
    this.end();
  }

  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#stream.end();
  }

  /** Messages waiting for the stream to accept them (at most one per kind). */
  get pendingCount(): number {
    return this.#pending.size;
  }

  #send(kind: PendingKind, message: OutgoingControllerMessage): void {
    // Queued behind an older message of an earlier kind, or the stream is full: wait, replacing any older one of this kind.
    if (this.#blocked || this.#inFlight >= MAX_IN_FLIGHT || this.#pending.size > 0) {
      this.#pending.set(kind, message);
      this.#flush();
    } else {
      this.#write(message);
    }
  }

  #write(message: OutgoingControllerMessage): void {
    // A transport that went away: the session is ended by the stream's own events.
    if (this.#stream.destroyed || this.#stream.writableEnded) return;
    this.#inFlight += 1;
    // Counted as held once written: a later config on this stream arrives after it, so it may refer to these files.
    // (A pending config replaced before it was written never got here: its successor was encoded with the files in full.)
    if (this.fileCache !== undefined && message instanceof EncodedControllerMessage) rememberSentFiles(this.fileCache, message);
    const accepted = this.#stream.write(message, () => {
      this.#inFlight -= 1;
      this.#flush();
    });
    if (!accepted) this.#blocked = true;
  }

  #drain(): void {
    this.#blocked = false;
    this.#flush();
  }

  #flush(): void {
    for (const kind of PENDING_ORDER) {
      if (this.#ended || this.#blocked || this.#inFlight >= MAX_IN_FLIGHT) return;
      const message = this.#pending.get(kind);
      if (message === undefined) continue;
      this.#pending.delete(kind);
      this.#write(message);
    }
  }

  info(): ProxyInfo {
    return {
      proxyId: this.identity.proxyId,
      service: `${this.identity.service.namespace}/${this.identity.service.name}`,
      serial: this.identity.serial,
      peer: this.identity.peer,
      addresses: this.addresses,
      endpoints: this.endpoints,
      agentVersion: this.agentVersion,
      proxyVersion: this.proxyVersion,
      connectedAt: this.connectedAt,
      config: this.configHash ? { version: this.configVersion, hash: this.configHash, driver: this.configDriver } : null,
      lastAck: this.lastAck,
      health: this.health,
      serviceCertificate: this.serviceCertificate,
      ...(this.certificateIdentity === "" ? {} : { identity: this.certificateIdentity }),
      dns: this.dns,
      capture: this.capture,
      endpointHealth: this.endpointHealth,
    };
  }
}
