/**
 * The agent's local Pipy repo on loopback, speaking Pipy's repo protocol
 * (../shared PIPY-NOTES.md; flomesh-io/pipy src/codebase.cpp):
 *
 *   GET  <base>/           manifest: one path per line, entry script first; `etag` header
 *   HEAD <base>/           the same headers, polled by Pipy every 5 s
 *   GET  <base><file>      one file of the version this connection is on; 404 if unknown
 *   POST <base>/           Pipy's status report -> 201 (tells which version runs)
 *   GET  <base>/<uuid>     WebSocket admin link (Upgrade); the agent pushes `reload`
 *   GET  /status           the agent's own status JSON
 *
 * Atomic versions: the current version is one immutable object swapped by
 * reference. A manifest GET pins that object to the TCP connection, and file
 * GETs on the same connection are served from the pinned object: Pipy
 * downloads manifest and files on one keep-alive connection, so a swap in
 * the middle of a download never mixes two versions.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import { formatHostPort, isLoopback, type HostPort } from "../../common/address.js";
import type { Logger } from "../../common/logger.js";
import type { ServedVersion } from "../config-version.js";
import { parseStatusReport, type PipyRunTracker } from "./pipy-run.js";
import { acceptWebSocket, type WebSocketConnection } from "./websocket.js";

export const REPO_BASE = "/repo";
/** Status reports carry metrics for every pipeline; generous but bounded. */
const MAX_STATUS_BODY = 16 * 1024 * 1024;

export interface LocalRepoOptions {
  readonly address: HostPort;
  readonly tracker: PipyRunTracker;
  readonly logger: Logger;
  /** Body of GET /status. */
  readonly status: () => unknown;
  /** Body of GET /metrics (Prometheus text: the agent's probe metrics); absent: 404. */
  readonly metrics?: () => Promise<string>;
}

export class LocalRepo {
  readonly #options: LocalRepoOptions;
  readonly #server: Server;
  readonly #pinned = new WeakMap<Socket, ServedVersion>();
  readonly #links = new Set<WebSocketConnection>();
  #current: ServedVersion | undefined;
  #closing: Promise<void> | undefined;

  private constructor(options: LocalRepoOptions) {
    this.#options = options;
    this.#server = createServer({ keepAliveTimeout: 30_000 }, (req, res) => this.#handle(req, res));
    this.#server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => this.#upgrade(req, socket, head));
    this.#server.on("clientError", (_err, socket: Duplex) => socket.destroy());
  }

  static async listen(options: LocalRepoOptions): Promise<LocalRepo> {
    const repo = new LocalRepo(options);
    await new Promise<void>((resolve, reject) => {
      repo.#server.once("error", reject);
      repo.#server.listen(options.address.port, options.address.host, () => {
        repo.#server.off("error", reject);
        // Once bound, a server error is logged: the repo must not take the agent down.
        repo.#server.on("error", (err) => options.logger.error({ err, code: "MESHFED_REPO_SERVER_ERROR" }, "local repo server error"));
        resolve();
      });
    });
    return repo;
  }

  get address(): HostPort {
    const a = this.#server.address();
    if (a === null || typeof a === "string") throw new Error("repo server is not listening");
    return { host: a.address, port: a.port };
  }

  /** The URL to give Pipy (it must end with "/"). */
  get url(): string {
    return `http://${formatHostPort(this.address)}${REPO_BASE}/`;
  }

  get current(): ServedVersion | undefined {
    return this.#current;
  }

  /** Swaps the served version (one reference assignment); undefined serves nothing. */
  serve(version: ServedVersion | undefined): void {
    if (version === this.#current) return;
    this.#current = version;
    this.#options.logger.debug({ configVersion: version?.version, etag: version?.etag }, "repo serves a new version");
  }

  get adminLinks(): number {
    return [...this.#links].filter((l) => l.isOpen).length;
  }

  /**
   * Asks every connected Pipy to download and reload now instead of at its
   * next 5 s poll. Returns how many links got it.
   */
  pushReload(): number {
    let n = 0;
    for (const link of this.#links) {
      if (!link.isOpen) continue;
      link.sendText("reload");
      n++;
    }
    return n;
  }

  close(): Promise<void> {
    this.#closing ??= new Promise((resolve) => {
      for (const link of this.#links) link.close(1001);
      this.#server.close(() => resolve());
      this.#server.closeIdleConnections();
      // Links and idle keep-alives must not hold close() open.
      setTimeout(() => {
        for (const link of this.#links) link.destroy();
        this.#server.closeAllConnections();
      }, 200).unref();
    });
    return this.#closing;
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    // Bound to loopback already; checked again so a mistaken bind never serves keys or config off-host.
    if (!isLoopback(req.socket.remoteAddress ?? "")) {
      send(res, 403, "loopback only\n");
      return;
    }
    const path = (req.url ?? "/").split("?")[0]!;
    if (path === "/metrics" && this.#options.metrics !== undefined && (req.method === "GET" || req.method === "HEAD")) {
      const headOnly = req.method === "HEAD";
      void this.#options.metrics().then(
        (text) => send(res, 200, text, { "content-type": "text/plain; version=0.0.4" }, headOnly),
        () => send(res, 500, "metrics unavailable\n"),
      );
      return;
    }
    if (path === "/status") {
      if (req.method !== "GET") return send(res, 405, "method not allowed\n");
      return send(res, 200, JSON.stringify(this.#options.status()) + "\n", { "content-type": "application/json" });
    }
    if (path === `${REPO_BASE}/`) return this.#root(req, res);
    if (path.startsWith(`${REPO_BASE}/`)) return this.#file(req, res, path.slice(REPO_BASE.length));
    send(res, 404, "not found\n");
  }

  #root(req: IncomingMessage, res: ServerResponse): void {
    if (req.method === "POST") return this.#status(req, res);
    if (req.method !== "GET" && req.method !== "HEAD") return send(res, 405, "method not allowed\n");
    const version = this.#current;
    if (version === undefined) return send(res, 404, "no configuration yet\n", {}, req.method === "HEAD");
    if (req.method === "GET") {
      this.#pinned.set(req.socket, version);
      this.#options.tracker.noteManifest(version.etag);
    }
    send(res, 200, version.manifest, { "content-type": "text/plain", etag: version.etag }, req.method === "HEAD");
  }

  #file(req: IncomingMessage, res: ServerResponse, file: string): void {
    if (req.method !== "GET" && req.method !== "HEAD") return send(res, 405, "method not allowed\n");
    const version = this.#pinned.get(req.socket) ?? this.#current;
    const content = version?.byPath.get(file);
    if (version === undefined || content === undefined) return send(res, 404, "not found\n", {}, req.method === "HEAD");
    send(res, 200, content, { "content-type": "application/octet-stream", etag: version.etag }, req.method === "HEAD");
  }

  #status(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > MAX_STATUS_BODY) {
        send(res, 413, "too large\n", { connection: "close" });
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => {
      if (size > MAX_STATUS_BODY) return;
      const report = parseStatusReport(Buffer.concat(chunks).toString("utf8"));
      if (report === undefined) return send(res, 400, "status must be JSON\n");
      // 201, not 206: we do not keep metrics, so ask for full reports each time.
      send(res, 201, "");
      this.#options.tracker.noteStatus(report);
    });
  }

  #upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const path = (req.url ?? "/").split("?")[0]!;
    const uuid = path.startsWith(`${REPO_BASE}/`) ? path.slice(REPO_BASE.length + 1) : "";
    if (!isLoopback(req.socket.remoteAddress ?? "") || this.#closing !== undefined || !/^[A-Za-z0-9-]{1,64}$/.test(uuid)) {
      socket.end("HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\n\r\n");
      return;
    }
    const link = acceptWebSocket(req, socket, head);
    if (link === undefined) return;
    this.#links.add(link);
    this.#options.logger.debug({ instance: uuid }, "pipy admin link connected");
    void link.closed.then(() => this.#links.delete(link));
  }
}

function send(res: ServerResponse, status: number, body: string | Buffer, headers: Record<string, string> = {}, headOnly = false): void {
  const data = typeof body === "string" ? Buffer.from(body) : body;
  res.writeHead(status, { "content-length": String(data.length), ...headers });
  res.end(headOnly ? undefined : data);
}
