/**
 * One proxy's Connect stream. It owns the write side: a slow proxy gets
 * back-pressure, not an unbounded queue — while the stream is full only the
 * newest config and the newest service certificate are kept, and older
 * pending ones are dropped (newest version wins).
 */
import type * as grpc from "@grpc/grpc-js";
import type { ServiceRef } from "../../common/service.js";
import type { AgentMessage__Output, ControllerMessage } from "../../common/proto.js";
import type { CertificateWithKey } from "../certificates/types.js";
import type { ProxyConfig } from "../drivers/types.js";

export type ProxyStream = grpc.ServerDuplexStream<AgentMessage__Output, ControllerMessage>;

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
}

export interface SessionIdentity {
  readonly proxyId: string;
  readonly service: ServiceRef;
  readonly serial: string;
  readonly peer: string;
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
  lastAck: AckRecord | null = null;
  health: ProxyInfo["health"] = null;
  serviceCertificate: { serial: string; notAfter: string } | null = null;
  readonly #stream: ProxyStream;
  #blocked = false;
  #pendingConfig: ControllerMessage | undefined;
  #pendingCertificate: ControllerMessage | undefined;
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
    const message: ControllerMessage = {
      config: { version: this.configVersion, driver: config.driver, hash: config.hash, files: config.files.map((f) => ({ path: f.path, content: Buffer.from(f.content) })) },
    };
    if (this.#blocked) this.#pendingConfig = message;
    else this.#write(message);
    return this.configVersion;
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
    if (this.#blocked) this.#pendingCertificate = message;
    else this.#write(message);
    return true;
  }

  sendCaBundle(pem: string): void {
    if (!this.#ended) this.#write({ caBundle: { pem } });
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

  #write(message: ControllerMessage): void {
    if (!this.#stream.write(message)) this.#blocked = true;
  }

  #drain(): void {
    this.#blocked = false;
    const cert = this.#pendingCertificate;
    const config = this.#pendingConfig;
    this.#pendingCertificate = this.#pendingConfig = undefined;
    // The certificate first: a config may refer to a certificate the agent must already hold.
    if (cert) this.#write(cert);
    if (config && !this.#blocked) this.#write(config);
    else if (config) this.#pendingConfig = config;
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
    };
  }
}
