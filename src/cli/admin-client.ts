import { readFileSync } from "node:fs";
import { MeshfedError } from "../common/errors.js";

export const DEFAULT_ADMIN_URL = "http://127.0.0.1:15000";

export interface AdminClientOptions {
  readonly url: string;
  /** Sent as a bearer token; read from --admin-token-file or MESHFED_ADMIN_TOKEN, never from argv. */
  readonly token?: string;
}

export function adminClientOptions(argv: { admin?: string; adminTokenFile?: string }): AdminClientOptions {
  const url = argv.admin ?? process.env.MESHFED_ADMIN ?? DEFAULT_ADMIN_URL;
  let token = process.env.MESHFED_ADMIN_TOKEN;
  if (argv.adminTokenFile !== undefined) token = readFileSync(argv.adminTokenFile, "utf8").trim();
  return token === undefined ? { url } : { url, token };
}

/** GETs one admin API path; errors name the URL and what the server said. */
export function adminGet(options: AdminClientOptions, path: string): Promise<unknown> {
  return adminRequest(options, "GET", path);
}

export function adminPost(options: AdminClientOptions, path: string, body: unknown): Promise<unknown> {
  return adminRequest(options, "POST", path, body);
}

async function adminRequest(options: AdminClientOptions, method: "GET" | "POST", path: string, body?: unknown): Promise<unknown> {
  const url = new URL(path, options.url.endsWith("/") ? options.url : `${options.url}/`);
  const headers: Record<string, string> = options.token ? { authorization: `Bearer ${options.token}` } : {};
  if (body !== undefined) headers["content-type"] = "application/json";
  let res: Response;
  try {
    res = await fetch(url, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}), signal: AbortSignal.timeout(10_000) });
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
    throw new MeshfedError("MESHFED_ADMIN_UNREACHABLE", `cannot reach the admin API at ${options.url} (${cause}); is the controller running? (--admin URL)`, { cause: err });
  }
  const text = await res.text();
  if (!res.ok) {
    let detail = text.trim();
    try {
      const body = JSON.parse(text) as { error?: { code?: string; message?: string } };
      if (body.error?.message) detail = `${body.error.code}: ${body.error.message}`;
    } catch {
      // not JSON: keep the text
    }
    throw new MeshfedError("MESHFED_ADMIN_ERROR", `${url.pathname} answered ${res.status}: ${detail}`);
  }
  return res.headers.get("content-type")?.includes("json") ? (JSON.parse(text) as unknown) : text;
}
