/**
 * Prometheus' own port: GET /metrics and nothing else, without the admin
 * token, so a scraper in the cluster needs no credential that could also mint
 * join tokens (the admin API's). What it shows is counts, durations and
 * versions: no names of hosts, no tokens, no keys. Off unless
 * `metrics.address` is set (docs/operations.md "Metrics").
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import { formatHostPort, type HostPort } from "../../common/address.js";
import { MeshfedError } from "../../common/errors.js";

export class MetricsServer {
  readonly #server: Server;

  private constructor(registry: Registry, logger: Logger) {
    this.#server = createServer((req, res) => {
      const path = new URL(req.url ?? "/", "http://metrics.invalid").pathname;
      if (path !== "/metrics" || (req.method !== "GET" && req.method !== "HEAD")) {
        res.writeHead(404, { "content-type": "text/plain; charset=utf-8" }).end("only GET /metrics is served here\n");
        return;
      }
      registry.metrics().then(
        (text) => res.writeHead(200, { "content-type": registry.contentType, "cache-control": "no-store" }).end(req.method === "HEAD" ? undefined : text),
        (err: unknown) => {
          logger.error({ err, code: "MESHFED_METRICS_COLLECT" }, "collecting metrics failed");
          res.writeHead(500).end();
        },
      );
    });
    this.#server.requestTimeout = 30_000;
    this.#server.headersTimeout = 10_000;
    this.#server.keepAliveTimeout = 5_000;
  }

  static async listen(listen: HostPort, registry: Registry, logger: Logger): Promise<MetricsServer> {
    const server = new MetricsServer(registry, logger);
    await new Promise<void>((resolve, reject) => {
      server.#server.once("error", (err) => reject(new MeshfedError("MESHFED_METRICS_BIND", `cannot serve metrics on ${formatHostPort(listen)}: ${err.message}`, { cause: err })));
      server.#server.listen(listen.port, listen.host, () => {
        server.#server.removeAllListeners("error");
        server.#server.on("error", (err) => logger.error({ err, code: "MESHFED_METRICS_SERVER_ERROR" }, "metrics server error"));
        resolve();
      });
    });
    return server;
  }

  get url(): string {
    const a = this.#server.address() as AddressInfo;
    return `http://${formatHostPort({ host: a.address, port: a.port })}/metrics`;
  }

  async close(): Promise<void> {
    if (!this.#server.listening) return;
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#server.closeAllConnections();
    await closed;
  }
}
