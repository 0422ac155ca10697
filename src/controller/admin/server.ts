import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { timingSafeEqual, createHash } from "node:crypto";
import type { AddressInfo } from "node:net";
import type { Logger } from "pino";
import { formatHostPort, isLoopback, type HostPort } from "../../common/address.js";
import { errorCode, errorMessage, MeshfedError } from "../../common/errors.js";
import { errorResponse, type AdminResponse, type AdminRouter } from "./router.js";
import { UI_PATHS } from "./ui-routes.js";

export interface AdminServerOptions {
  readonly listen: HostPort;
  readonly router: AdminRouter;
  /** Required on a non-loopback address: every request must carry `Authorization: Bearer <token>`. */
  readonly token?: string;
  readonly logger: Logger;
}

/**
 * Probe paths (the kubelet sends no credentials) and the status page's static
 * files (no mesh data in them: the page asks for the token, ui-routes.ts).
 */
const UNAUTHENTICATED = new Set<string>(["/healthz", "/readyz", ...UI_PATHS]);

/**
 * The admin HTTP server. It refuses to start on a non-loopback address without
 * a token, because this API will mint join tokens: whoever reaches it could
 * enroll a proxy under any service identity.
 */
export class AdminServer {
  readonly #server: Server;
  readonly #options: AdminServerOptions;
  readonly #tokenDigest: Buffer | undefined;

  private constructor(options: AdminServerOptions) {
    this.#options = options;
    this.#tokenDigest = options.token === undefined ? undefined : digest(options.token);
    this.#server = createServer((req, res) => void this.#serve(req, res));
    // Slow-loris protection: an admin client has no business holding a request open.
    this.#server.requestTimeout = 30_000;
    this.#server.headersTimeout = 10_000;
    this.#server.keepAliveTimeout = 5_000;
  }

  static async listen(options: AdminServerOptions): Promise<AdminServer> {
    if (!isLoopback(options.listen.host) && options.token === undefined) {
      throw new MeshfedError("MESHFED_ADMIN_TOKEN_REQUIRED", `refusing to serve the admin API on ${formatHostPort(options.listen)} without an admin token`);
    }
    const server = new AdminServer(options);
    await new Promise<void>((resolve, reject) => {
      server.#server.once("error", (err) =>
        reject(new MeshfedError("MESHFED_ADMIN_BIND", `cannot serve the admin API on ${formatHostPort(options.listen)}: ${err.message}`, { cause: err })),
      );
      server.#server.listen(options.listen.port, options.listen.host, () => {
        server.#server.removeAllListeners("error");
        // After binding, a server error (e.g. out of file descriptors on
        // accept) is logged; an unhandled one would crash the controller.
        server.#server.on("error", (err) => options.logger.error({ err, code: "MESHFED_ADMIN_SERVER_ERROR" }, "admin server error"));
        resolve();
      });
    });
    return server;
  }

  get address(): HostPort {
    const a = this.#server.address() as AddressInfo;
    return { host: a.address, port: a.port };
  }

  get url(): string {
    return `http://${formatHostPort(this.address)}`;
  }

  async #serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://admin.invalid");
    let response: AdminResponse;
    // The kubelet probes /healthz and /readyz without credentials; both tell
    // nothing beyond "alive" and which sources are still syncing.
    if (!this.#authorized(req) && !UNAUTHENTICATED.has(url.pathname)) {
      response = errorResponse(401, "MESHFED_ADMIN_UNAUTHORIZED", "missing or wrong admin token (Authorization: Bearer <token>)");
    } else {
      try {
        response = await this.#options.router.handle(req, url);
      } catch (err) {
        // A MeshfedError is the caller's mistake (bad input, unknown id): 4xx.
        // Anything else is ours: 500, and logged.
        if (err instanceof MeshfedError) {
          const status = typeof err.details.status === "number" ? err.details.status : /_UNKNOWN$|_NOT_FOUND$/.test(err.code) ? 404 : 400;
          response = errorResponse(status, err.code, err.message);
        } else {
          this.#options.logger.error({ err, code: errorCode(err), path: url.pathname }, "admin request failed");
          response = errorResponse(500, errorCode(err), errorMessage(err));
        }
      }
    }
    const isText = typeof response.body === "string";
    const payload = isText ? (response.body as string) : `${JSON.stringify(response.body, null, 2)}\n`;
    res.writeHead(response.status, {
      "content-type": response.contentType ?? (isText ? "text/plain; charset=utf-8" : "application/json"),
      "cache-control": "no-store",
      ...response.headers,
    });
    res.end(payload);
  }

  #authorized(req: IncomingMessage): boolean {
    if (this.#tokenDigest === undefined) return true;
    const header = req.headers.authorization ?? "";
    const m = /^Bearer (.+)$/.exec(header);
    // Comparing digests keeps the comparison constant-time whatever the length.
    return m !== null && timingSafeEqual(digest(m[1]!), this.#tokenDigest);
  }

  /** Stops accepting, lets in-flight requests finish, then drops idle keep-alive sockets. */
  async close(): Promise<void> {
    if (!this.#server.listening) return;
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#server.closeIdleConnections();
    await closed;
  }

  destroy(): void {
    this.#server.closeAllConnections();
    this.#server.close();
  }
}

function digest(token: string): Buffer {
  return createHash("sha256").update(token).digest();
}
