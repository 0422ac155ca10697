/**
 * The controller's Pipy repo for sidecars in pods (DESIGN.md §3 flow 5;
 * docs/pipy.md "Polling the controller's repo"): Pipy's repo protocol
 * (../shared PIPY-NOTES.md; flomesh-io/pipy src/codebase.cpp) over HTTPS with
 * a client certificate required.
 *
 *   HEAD /repo/<proxy-uuid>/         etag of the current version (polled every 5 s)
 *   GET  /repo/<proxy-uuid>/         manifest, entry first; pins that version to the connection
 *   GET  /repo/<proxy-uuid>/<file>   one file of the pinned version
 *   POST /repo/<proxy-uuid>/         Pipy's status report -> 201 (body read, bounded, ignored)
 *
 * Identity comes only from the verified client certificate: its SPIFFE URI
 * names the proxy and its service, the registry must know it (not revoked,
 * not expired), and the proxy id in the URL must be the certificate's. So the
 * service private key in /certs/service.key goes only to a proxy of that
 * service, over mTLS (osm-edge serves plain HTTP with keys in config.json).
 *
 * Atomic versions: a manifest GET pins one immutable RepoVersion to the TLS
 * socket, and file GETs on it are served from that object. Pipy downloads the
 * manifest and every file on one keep-alive connection, so a change in the
 * middle never gives it a mix of two versions.
 */
import { createServer, type Server } from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import type { TLSSocket } from "node:tls";
import type { Duplex } from "node:stream";
import type { Logger } from "pino";
import { formatHostPort, type HostPort } from "../../common/address.js";
import { errorCode, errorMessage, MeshfedError } from "../../common/errors.js";
import type { ControllerMetrics } from "../../common/metrics.js";
import { serviceKey } from "../../common/service.js";
import type { MeshCatalog } from "../catalog/catalog.js";
import { normalizeSerial } from "../certificates/registry.js";
import type { CertificateManager, CertificateRecord } from "../certificates/types.js";
import type { SidecarDriver } from "../drivers/types.js";
import { authenticateRepoPeer, type RepoPeer } from "./pipy-repo-auth.js";
import { repoMetrics, type RepoMetrics } from "./pipy-repo-metrics.js";
import { RepoVersions, type RepoVersion } from "./pipy-repo-versions.js";
import { PollingSidecars, type SidecarLocator } from "./polling-sidecars.js";
import { ServingIdentity } from "./serving-identity.js";

export const PIPY_REPO_BASE = "/repo";
/** Status reports carry metrics for every pipeline; generous but bounded. */
const MAX_STATUS_BODY = 8 * 1024 * 1024;
const REPO_PATH = /^\/repo\/([0-9A-Fa-f-]{36})(\/.*)$/;

export interface PipyRepoOptions {
  readonly listen: HostPort;
  readonly certificates: CertificateManager;
  readonly catalog: Pick<MeshCatalog, "on" | "proxyView" | "proxyIdentity">;
  readonly driver: SidecarDriver;
  readonly logger: Logger;
  readonly metrics?: ControllerMetrics;
  /** TLS handshake, headers and whole-request limits (ms). */
  readonly handshakeTimeoutMs?: number;
  readonly requestTimeoutMs?: number;
  readonly maxConnections?: number;
  /** Observes every answered request (tests, debugging). */
  readonly onRequest?: (event: RepoRequestEvent) => void;
  /** Where a polling sidecar runs (its pod), for participants; default: the TLS peer address. */
  readonly locate?: SidecarLocator;
}

export interface RepoRequestEvent {
  readonly proxyId?: string;
  readonly method: string;
  readonly path: string;
  readonly status: number;
  readonly code?: string;
}

export class PipyRepoServer {
  readonly #o: PipyRepoOptions;
  readonly #log: Logger;
  readonly #stop = new AbortController();
  readonly #versions: RepoVersions;
  readonly #pinned = new WeakMap<Socket, RepoVersion>();
  readonly #sockets = new Set<TLSSocket>();
  readonly #unsubscribe: Array<() => void> = [];
  /** serial:code pairs already logged at warn; repeats (every 5 s poll) go to debug. */
  readonly #warned = new Set<string>();
  readonly #metrics: RepoMetrics | undefined;
  /** Sidecars that polled recently: the "connected" leg of participants for pods. */
  readonly sidecars: PollingSidecars;
  #server: Server | undefined;
  #closing: Promise<void> | undefined;

  private constructor(options: PipyRepoOptions) {
    this.#o = options;
    this.#log = options.logger.child({ component: "pipy-repo" });
    const locate = options.locate;
    this.#versions = new RepoVersions({
      catalog: options.catalog, driver: options.driver, certificates: options.certificates,
      ...(locate === undefined ? {} : { addresses: (proxyId: string) => locate(proxyId)?.addresses ?? [] }),
    });
    this.#metrics = options.metrics ? repoMetrics(options.metrics.registry) : undefined;
    this.sidecars = new PollingSidecars(options.locate === undefined ? {} : { locate: options.locate });
  }

  static async listen(options: PipyRepoOptions): Promise<PipyRepoServer> {
    const repo = new PipyRepoServer(options);
    try {
      await repo.#start();
    } catch (err) {
      repo.destroy();
      throw err;
    }
    return repo;
  }

  async #start(): Promise<void> {
    const { certificates, listen } = this.#o;
    // The same serving certificate rules as the gRPC port: from the mesh CA,
    // renewed at two thirds of its life and swapped into the live server.
    const identity = new ServingIdentity(certificates, this.#log);
    await identity.start(this.#stop.signal);
    const first = await new Promise<{ certificate: Buffer; privateKey: Buffer }>((resolve, reject) => {
      let delivered = false;
      identity.addIdentityCertificateListener((update) => {
        if (update === null) return reject(new MeshfedError("MESHFED_REPO_NO_CERT", "no serving certificate for the Pipy repo"));
        if (!delivered) {
          delivered = true;
          resolve(update);
          return;
        }
        // New connections get the renewed certificate; open ones keep theirs.
        this.#server?.setSecureContext(this.#tlsContext(update));
        this.#log.info("serving certificate renewed");
      });
    });
    const server = createServer({
      ...this.#tlsContext(first),
      minVersion: "TLSv1.2",
      requestCert: true,
      // No mesh client certificate, no handshake: nothing below runs for strangers.
      rejectUnauthorized: true,
      handshakeTimeout: this.#o.handshakeTimeoutMs ?? 10_000,
      requestTimeout: this.#o.requestTimeoutMs ?? 30_000,
      headersTimeout: Math.min(this.#o.requestTimeoutMs ?? 30_000, 10_000),
      keepAliveTimeout: 30_000,
      maxHeaderSize: 16 * 1024,
    }, (req, res) => void this.#handle(req, res));
    this.#server = server;
    server.maxConnections = this.#o.maxConnections ?? 20_000;
    server.on("secureConnection", (socket: TLSSocket) => {
      this.#sockets.add(socket);
      socket.once("close", () => this.#sockets.delete(socket));
    });
    server.on("tlsClientError", (err: Error, socket: TLSSocket) => {
      this.#metrics?.handshakeFailures.inc();
      this.#log.debug({ peer: socket.remoteAddress, err: err.message }, "TLS handshake refused");
    });
    // Pipy opens an admin WebSocket at <base>/<instance-uuid>; this repo has no admin link.
    server.on("upgrade", (_req: IncomingMessage, socket: Duplex) => {
      socket.end("HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\n\r\n");
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", (err) =>
        reject(new MeshfedError("MESHFED_REPO_BIND", `cannot listen for Pipy sidecars on ${formatHostPort(listen)}: ${err.message}`, { cause: err })));
      server.listen(listen.port, listen.host, () => {
        server.removeAllListeners("error");
        server.on("error", (err) => this.#log.error({ err }, "Pipy repo server error"));
        resolve();
      });
    });
    this.#unsubscribe.push(this.#o.catalog.on("change", () => this.#versions.invalidate()));
    this.#unsubscribe.push(certificates.on("change", (record) => this.#onCertificateChange(record)));
    // CA rotation: new handshakes check client certificates against the new
    // bundle (and get a serving certificate from the signing root), and every
    // sidecar's next poll renders /certs/ca.pem from it.
    this.#unsubscribe.push(certificates.onCaChange(() => {
      identity.reload();
      this.#versions.invalidate();
    }));
    this.#log.info({ address: formatHostPort({ host: listen.host, port: this.port }) }, "Pipy repo (HTTPS, client certificate required) listening");
  }

  #tlsContext(identity: { certificate: Buffer; privateKey: Buffer }): { cert: Buffer; key: Buffer; ca: string } {
    return { cert: identity.certificate, key: identity.privateKey, ca: this.#o.certificates.caBundle() };
  }

  get port(): number {
    const a = this.#server?.address();
    return a !== null && a !== undefined && typeof a !== "string" ? a.port : 0;
  }

  // ---- requests ---------------------------------------------------------

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? "GET";
    const path = (req.url ?? "/").split("?")[0]!;
    const m = REPO_PATH.exec(path);
    if (!m) return this.#refuse(req, res, 404, "MESHFED_REPO_NOT_FOUND", `no repo at ${path.slice(0, 200)}; use ${PIPY_REPO_BASE}/<proxy-id>/`);
    const socket = req.socket as TLSSocket;
    const auth = authenticateRepoPeer(socket.getPeerCertificate(), m[1]!, this.#o.certificates);
    if (!auth.ok) return this.#refuse(req, res, auth.status, auth.code, auth.message);
    const { peer } = auth;
    const file = m[2]!;
    try {
      if (peer.record.state === "unclaimed") {
        await this.#o.certificates.claim(peer.record.serial);
        this.#log.info({ proxyId: peer.proxyId, service: serviceKey(peer.service), serial: peer.record.serial }, "proxy certificate claimed by a polling sidecar");
        // A sidecar restarted on the certificate a CA rotation put in its bootstrap Secret
        // (injector/sidecar-renewal.ts): it proved it holds it, so its old-root ones are done.
        await this.#o.certificates.supersedeRenewed(peer.record).catch((err: unknown) =>
          this.#log.error({ err, code: errorCode(err), proxyId: peer.proxyId }, "revoking the certificate a renewal replaced failed"));
      }
      this.sidecars.seen(peer.proxyId, peer.service, peer.record.serial, socket.remoteAddress ?? "");
      if (file === "/") {
        if (method === "POST") return this.#status(req, res, peer);
        if (method !== "GET" && method !== "HEAD") return this.#refuse(req, res, 405, "MESHFED_REPO_METHOD", `${method} is not allowed here`, peer);
        const version = await this.#versions.current(peer.proxyId, peer.service);
        if (method === "GET") this.#pinned.set(socket, version);
        return this.#send(req, res, peer, method === "GET" ? "manifest" : "head", 200, version.manifest, { "content-type": "text/plain", etag: version.etag });
      }
      if (method !== "GET" && method !== "HEAD") return this.#refuse(req, res, 405, "MESHFED_REPO_METHOD", `${method} is not allowed here`, peer);
      const pinned = this.#pinned.get(socket);
      const version = pinned?.proxyId === peer.proxyId ? pinned : await this.#versions.current(peer.proxyId, peer.service);
      const content = version.byPath.get(file);
      // A 404 makes Pipy skip the file; any other error would abort the whole download.
      if (content === undefined) return this.#refuse(req, res, 404, "MESHFED_REPO_NO_FILE", `no file ${file.slice(0, 200)} in this version`, peer);
      return this.#send(req, res, peer, "file", 200, content, { "content-type": "application/octet-stream", etag: version.etag });
    } catch (err) {
      const code = errorCode(err);
      this.#log.error({ err, code, proxyId: peer.proxyId }, "Pipy repo request failed");
      // Claim refusals (a race with revocation) are the caller's problem; anything else is ours.
      const status = code.startsWith("MESHFED_CERT") ? 403 : 500;
      return this.#refuse(req, res, status, code === "" ? "MESHFED_REPO_INTERNAL" : code, errorMessage(err), peer);
    }
  }

  #status(req: IncomingMessage, res: ServerResponse, peer: RepoPeer): void {
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > MAX_STATUS_BODY && !res.headersSent) {
        this.#refuse(req, res, 413, "MESHFED_REPO_STATUS_TOO_LARGE", `status reports are limited to ${MAX_STATUS_BODY} bytes`, peer, { connection: "close" });
        req.destroy();
      }
    });
    req.on("end", () => {
      if (size > MAX_STATUS_BODY) return;
      // 201, not 206: no metrics are kept, so incremental reports would be wasted.
      this.#send(req, res, peer, "status", 201, "", {});
    });
  }

  #send(req: IncomingMessage, res: ServerResponse, peer: RepoPeer, kind: string, status: number, body: string | Buffer, headers: Record<string, string>): void {
    const data = typeof body === "string" ? Buffer.from(body) : body;
    res.writeHead(status, { "content-length": String(data.length), ...headers });
    res.end(req.method === "HEAD" ? undefined : data);
    this.#metrics?.requests.inc({ kind, status: String(status) });
    this.#o.onRequest?.({ proxyId: peer.proxyId, method: req.method ?? "", path: (req.url ?? "").split("?")[0]!, status });
  }

  #refuse(req: IncomingMessage, res: ServerResponse, status: number, code: string, message: string, peer?: RepoPeer, headers: Record<string, string> = {}): void {
    this.#metrics?.refusals.inc({ code });
    const serial = (req.socket as TLSSocket).getPeerCertificate().serialNumber ?? "";
    const key = `${serial}:${code}`;
    const fields = { peer: req.socket.remoteAddress, proxyId: peer?.proxyId, serial, code, reason: message, path: (req.url ?? "").slice(0, 200) };
    if (status >= 500 || !this.#warned.has(key)) {
      if (this.#warned.size > 10_000) this.#warned.clear();
      this.#warned.add(key);
      this.#log.warn(fields, "Pipy repo request refused");
    } else {
      this.#log.debug(fields, "Pipy repo request refused");
    }
    const data = Buffer.from(JSON.stringify({ error: { code, message } }) + "\n");
    if (!res.headersSent) res.writeHead(status, { "content-type": "application/json", "content-length": String(data.length), ...headers });
    res.end(req.method === "HEAD" ? undefined : data);
    this.#o.onRequest?.({ ...(peer ? { proxyId: peer.proxyId } : {}), method: req.method ?? "", path: (req.url ?? "").split("?")[0]!, status, code });
  }

  /** A revoked proxy certificate: drop its open connections now instead of at its next poll. */
  #onCertificateChange(record: CertificateRecord): void {
    if (record.kind !== "proxy" || record.state !== "revoked") return;
    for (const socket of this.#sockets) {
      if (normalizeSerial(socket.getPeerCertificate().serialNumber ?? "") === record.serial) {
        this.#log.warn({ proxyId: record.proxyId, serial: record.serial }, "certificate revoked: closing the sidecar's repo connection");
        socket.destroy();
      }
    }
    if (record.proxyId !== undefined) {
      this.#versions.forget(record.proxyId);
      this.sidecars.forget(record.proxyId);
    }
  }

  // ---- lifecycle --------------------------------------------------------

  /** Stops accepting, lets in-flight requests finish (bounded by graceMs), then cuts the rest. Idempotent. */
  close(graceMs = 2_000): Promise<void> {
    this.#closing ??= new Promise<void>((resolve) => {
      this.#stop.abort();
      for (const off of this.#unsubscribe.splice(0)) off();
      const server = this.#server;
      if (server === undefined) return resolve();
      server.close(() => resolve());
      // Pipy holds keep-alive connections between polls: idle ones must not hold close() open.
      server.closeIdleConnections();
      setTimeout(() => {
        server.closeAllConnections();
        for (const s of this.#sockets) s.destroy();
      }, graceMs).unref();
    });
    return this.#closing;
  }

  destroy(): void {
    this.#stop.abort();
    for (const off of this.#unsubscribe.splice(0)) off();
    this.#server?.close();
    this.#server?.closeAllConnections();
    for (const s of this.#sockets) s.destroy();
  }
}
