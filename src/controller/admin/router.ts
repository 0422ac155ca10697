import type { IncomingMessage } from "node:http";

export interface AdminResponse {
  readonly status: number;
  /** Objects are sent as JSON; strings as-is with `contentType`. */
  readonly body: unknown;
  readonly contentType?: string;
  /** Extra response headers (the status page's security headers). */
  readonly headers?: Readonly<Record<string, string>>;
}

export type AdminHandler = (req: IncomingMessage, url: URL) => Promise<AdminResponse> | AdminResponse;

export const json = (body: unknown, status = 200): AdminResponse => ({ status, body });

export const errorResponse = (status: number, code: string, message: string): AdminResponse => ({ status, body: { error: { code, message } } });

/**
 * Exact-path routing: the admin API is small and its paths are a contract,
 * so there are no patterns to get wrong. Other components (the proxy control
 * plane's token endpoints, later) register their routes here explicitly.
 */
export class AdminRouter {
  readonly #routes = new Map<string, Map<string, AdminHandler>>();

  add(method: "GET" | "POST" | "DELETE", path: string, handler: AdminHandler): this {
    let byMethod = this.#routes.get(path);
    if (!byMethod) this.#routes.set(path, (byMethod = new Map<string, AdminHandler>()));
    if (byMethod.has(method)) throw new Error(`admin route ${method} ${path} registered twice`);
    byMethod.set(method, handler);
    return this;
  }

  async handle(req: IncomingMessage, url: URL): Promise<AdminResponse> {
    const byMethod = this.#routes.get(url.pathname);
    if (!byMethod) return errorResponse(404, "MESHFED_NOT_FOUND", `no such path: ${url.pathname}`);
    const handler = byMethod.get(req.method ?? "GET");
    if (!handler) return errorResponse(405, "MESHFED_METHOD_NOT_ALLOWED", `${req.method} is not allowed on ${url.pathname} (allowed: ${[...byMethod.keys()].join(", ")})`);
    return handler(req, url);
  }
}
