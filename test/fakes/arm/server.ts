/**
 * An in-process HTTPS fake of Azure Resource Manager and of the Entra ID
 * token endpoint, small and honest, for the real SDK clients:
 *  - real paths (matched case-insensitively, as ARM does: the scale-set NIC
 *    listing comes as `microsoft.Compute`), a required `api-version` checked
 *    against the versions the pinned SDKs send;
 *  - bearer tokens: only tokens this fake issued (client credentials grant
 *    at `/{tenant}/oauth2/v2.0/token`, or the App Service managed identity
 *    endpoint at `/msi/token`) are accepted, else 401 as ARM answers;
 *  - paging: `pageSize` items per page and an absolute `nextLink` with
 *    `$skiptoken`, as ARM returns;
 *  - failure injection: a resource group answering an error, the next N
 *    requests throttled (429/503 with Retry-After);
 *  - a request log, for asserting calls and the time between retries.
 */
import { createServer, type Server } from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { randomBytes } from "node:crypto";
import { FakeInventory, same } from "./inventory.js";
import { makeTestTls, type TestTls } from "./tls.js";
import { readBody } from "../read-body.js";

export const API_VERSIONS = { compute: "2026-03-01", network: "2025-05-01", scaleSetNetwork: "2018-10-01" } as const;

export interface LoggedRequest {
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
  readonly status: number;
  readonly at: number;
}

export interface Throttle {
  readonly status: 429 | 503;
  /** Retry-After header value (seconds, as ARM sends it); omitted: no header. */
  readonly retryAfter?: string;
  /** Only requests whose lower-cased path contains this. */
  readonly match?: string;
}

interface RgFailure {
  readonly status: number;
  readonly code: string;
  readonly message: string;
}

export class FakeArm {
  readonly url: string;
  readonly ca: string;
  readonly tenantId = "72f988bf-86f1-41af-91ab-2d7cd011db47";
  readonly clientId = "00000000-aaaa-bbbb-cccc-000000000001";
  readonly clientSecret = "fake-secret-" + randomBytes(6).toString("hex");
  /** The X-IDENTITY-HEADER value a managed identity caller must send (IDENTITY_HEADER). */
  readonly identityHeader = randomBytes(8).toString("hex");
  readonly inventory: FakeInventory;
  readonly requests: LoggedRequest[] = [];
  readonly tokenRequests: Array<{ scope: string | null; clientId: string | null }> = [];
  pageSize = 2;
  /**
   * Rewrites the JSON of successful ARM answers before they are sent, for
   * tests of responses with missing or odd fields. `path` is lower-cased.
   */
  rewrite: ((path: string, json: unknown) => unknown) | undefined;
  readonly #server: Server;
  readonly #tokens = new Set<string>();
  readonly #rgFailures = new Map<string, RgFailure>();
  #throttles: Array<Throttle & { left: number }> = [];

  private constructor(server: Server, url: string, tls: TestTls, subscriptionId: string) {
    this.#server = server;
    this.url = url;
    this.ca = tls.ca;
    this.inventory = new FakeInventory(subscriptionId);
  }

  static async start(subscriptionId = "11111111-2222-3333-4444-555555555555"): Promise<FakeArm> {
    const tls = await makeTestTls();
    const server = createServer({ cert: tls.cert, key: tls.key });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    const fake = new FakeArm(server, `https://127.0.0.1:${port}`, tls, subscriptionId);
    server.on("request", (req: IncomingMessage, res: ServerResponse) => {
      fake.handle(req, res).catch((err: unknown) => {
        res.statusCode = 500;
        res.end(JSON.stringify({ error: { code: "FakeArmBug", message: String(err) } }));
      });
    });
    return fake;
  }

  get subscriptionId(): string {
    return this.inventory.subscriptionId;
  }

  /** Every request touching this resource group answers this error until cleared. */
  failResourceGroup(rg: string, failure: RgFailure = { status: 500, code: "InternalServerError", message: "An unexpected error occured while processing the request." }): void {
    this.#rgFailures.set(rg.toLowerCase(), failure);
  }

  clearFailure(rg: string): void {
    this.#rgFailures.delete(rg.toLowerCase());
  }

  /** The next `count` ARM requests (matching `match`, if given) answer `status`. */
  throttle(count: number, throttle: Throttle): void {
    this.#throttles.push({ ...throttle, left: count });
  }

  /** Makes every issued token invalid (ARM then answers 401). */
  revokeTokens(): void {
    this.#tokens.clear();
  }

  armRequests(): LoggedRequest[] {
    return this.requests.filter((r) => r.path.toLowerCase().startsWith("/subscriptions/"));
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", this.url);
    const body = await readBody(req);
    const reply = (status: number, json: unknown, headers: Record<string, string> = {}): void => {
      if (status === 200 && this.rewrite !== undefined && url.pathname.toLowerCase().startsWith("/subscriptions/")) json = this.rewrite(url.pathname.toLowerCase(), json);
      this.requests.push({ method: req.method ?? "GET", path: url.pathname, query: url.searchParams, status, at: Date.now() });
      res.writeHead(status, { "content-type": "application/json; charset=utf-8", "x-ms-request-id": randomBytes(8).toString("hex"), ...headers });
      res.end(JSON.stringify(json));
    };
    const path = url.pathname.toLowerCase();
    const tenant = this.tenantId.toLowerCase();

    // Entra ID (v2.0 endpoints): OpenID metadata MSAL reads, and the token endpoint.
    if (path === `/${tenant}/v2.0/.well-known/openid-configuration`) {
      const base = `${this.url}/${this.tenantId}`;
      reply(200, {
        token_endpoint: `${base}/oauth2/v2.0/token`,
        authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
        end_session_endpoint: `${base}/oauth2/v2.0/logout`,
        jwks_uri: `${this.url}/${this.tenantId}/discovery/v2.0/keys`,
        issuer: `${this.url}/${this.tenantId}/v2.0`,
        token_endpoint_auth_methods_supported: ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        response_types_supported: ["code", "id_token", "code id_token", "id_token token"],
        tenant_region_scope: "EU",
      });
      return;
    }
    if (path === `/${tenant}/oauth2/v2.0/token` && req.method === "POST") {
      const form = new URLSearchParams(body);
      this.tokenRequests.push({ scope: form.get("scope"), clientId: form.get("client_id") });
      if (form.get("grant_type") !== "client_credentials" || form.get("client_id") !== this.clientId || form.get("client_secret") !== this.clientSecret) {
        reply(401, { error: "invalid_client", error_description: "AADSTS7000215: Invalid client secret provided.", error_codes: [7000215] });
        return;
      }
      const token = `fake.${randomBytes(16).toString("hex")}`;
      this.#tokens.add(token);
      reply(200, { token_type: "Bearer", expires_in: 3599, ext_expires_in: 3599, access_token: token });
      return;
    }
    if (/^\/[^/]+\/oauth2\/v2\.0\/token$/.test(path) || /^\/[^/]+\/v2\.0\/\.well-known\/openid-configuration$/.test(path)) {
      reply(400, { error: "invalid_tenant", error_description: "AADSTS90002: Tenant not found." });
      return;
    }

    // App Service / Functions managed identity endpoint (what IDENTITY_ENDPOINT points at).
    if (path === "/msi/token" && req.method === "GET") {
      const clientId = url.searchParams.get("client_id");
      this.tokenRequests.push({ scope: url.searchParams.get("resource"), clientId });
      if (req.headers["x-identity-header"] !== this.identityHeader) {
        reply(401, { statusCode: 401, message: "Unauthorized request: X-IDENTITY-HEADER missing or wrong" });
        return;
      }
      if (url.searchParams.get("api-version") !== "2019-08-01" || url.searchParams.get("resource") === null) {
        reply(400, { statusCode: 400, message: "api-version 2019-08-01 and resource are required" });
        return;
      }
      const token = `fake-mi.${randomBytes(16).toString("hex")}`;
      this.#tokens.add(token);
      reply(200, {
        access_token: token,
        expires_on: String(Math.floor(Date.now() / 1000) + 3600),
        resource: url.searchParams.get("resource"),
        token_type: "Bearer",
        ...(clientId === null ? {} : { client_id: clientId }),
      });
      return;
    }

    if (!path.startsWith("/subscriptions/")) {
      reply(404, { error: { code: "InvalidResourceType", message: `no route for ${url.pathname}` } });
      return;
    }
    const auth = req.headers.authorization ?? "";
    if (!auth.startsWith("Bearer ") || !this.#tokens.has(auth.slice(7))) {
      reply(401, { error: { code: "InvalidAuthenticationToken", message: "The access token is invalid." } }, { "www-authenticate": 'Bearer authorization_uri="https://login.windows.net/", error="invalid_token"' });
      return;
    }
    const throttle = this.#throttles.find((t) => t.left > 0 && (t.match === undefined || path.includes(t.match.toLowerCase())));
    if (throttle !== undefined) {
      throttle.left--;
      const headers: Record<string, string> = throttle.retryAfter === undefined ? {} : { "retry-after": throttle.retryAfter };
      if (throttle.status === 429) reply(429, { error: { code: "TooManyRequests", message: "The request is being throttled." } }, headers);
      else reply(503, { error: { code: "ServiceUnavailable", message: "The service is temporarily unavailable." } }, headers);
      return;
    }
    this.routeArm(url, path, reply);
  }

  private routeArm(url: URL, path: string, reply: (status: number, json: unknown, headers?: Record<string, string>) => void): void {
    const inv = this.inventory;
    const sub = `/subscriptions/${inv.subscriptionId.toLowerCase()}`;
    if (!path.startsWith(sub + "/") ) {
      reply(404, { error: { code: "SubscriptionNotFound", message: `The subscription '${path.split("/")[2]}' could not be found.` } });
      return;
    }
    const rest = path.slice(sub.length);
    const rgMatch = /^\/resourcegroups\/([^/]+)(\/.*)$/.exec(rest);
    const rg = rgMatch?.[1];
    const tail = rgMatch?.[2] ?? rest;
    if (rg !== undefined) {
      const failure = this.#rgFailures.get(rg);
      if (failure !== undefined) {
        reply(failure.status, { error: { code: failure.code, message: failure.message } });
        return;
      }
      if (![...inv.resourceGroups].some((g) => same(g, rg))) {
        reply(404, { error: { code: "ResourceGroupNotFound", message: `Resource group '${rg}' could not be found.` } });
        return;
      }
    }
    const inRg = (r: string): boolean => rg === undefined || same(r, rg);
    const api = url.searchParams.get("api-version");
    const needs = (version: string): boolean => {
      if (api === version) return true;
      reply(400, api === null
        ? { error: { code: "MissingApiVersionParameter", message: "The api-version query parameter (?api-version=) is required for all requests." } }
        : { error: { code: "InvalidApiVersionParameter", message: `The api-version '${api}' is invalid. The fake ARM supports '${version}'.` } });
      return false;
    };
    const list = (items: object[]): void => this.page(url, items, reply);
    let m: RegExpExecArray | null;

    if (tail === "/providers/microsoft.compute/virtualmachines") {
      if (needs(API_VERSIONS.compute)) list(inv.vms.filter((v) => inRg(v.resourceGroup)).map((v) => inv.vmJson(v)));
    } else if (rg !== undefined && (m = /^\/providers\/microsoft\.compute\/virtualmachines\/([^/]+)\/instanceview$/.exec(tail))) {
      const vm = inv.vms.find((v) => inRg(v.resourceGroup) && same(v.name, m![1]!));
      if (!needs(API_VERSIONS.compute)) return;
      if (vm === undefined) reply(404, notFound("Microsoft.Compute/virtualMachines", m[1]!, rg));
      else reply(200, inv.instanceViewJson(vm.name, vm.power));
    } else if (tail === "/providers/microsoft.compute/virtualmachinescalesets") {
      if (needs(API_VERSIONS.compute)) list(inv.scaleSets.filter((s) => inRg(s.resourceGroup)).map((s) => inv.scaleSetJson(s)));
    } else if (rg !== undefined && (m = /^\/providers\/microsoft\.compute\/virtualmachinescalesets\/([^/]+)(\/virtualmachines|\/networkinterfaces)?$/.exec(tail))) {
      const ss = inv.scaleSets.find((s) => inRg(s.resourceGroup) && same(s.name, m![1]!));
      const what = m[2];
      if (!needs(what === "/networkinterfaces" ? API_VERSIONS.scaleSetNetwork : API_VERSIONS.compute)) return;
      if (ss === undefined) {
        reply(404, notFound("Microsoft.Compute/virtualMachineScaleSets", m[1]!, rg));
        return;
      }
      const members = inv.scaleSetInstances.filter((i) => same(i.resourceGroup, ss.resourceGroup) && same(i.scaleSet, ss.name));
      if (what === undefined) reply(200, inv.scaleSetJson(ss));
      else if (what === "/virtualmachines") list(members.map((i) => inv.instanceJson(i, url.searchParams.get("$expand") === "instanceView")));
      else list(members.map((i) => inv.nicJson(inv.instanceNicId(i), inv.instanceId(i), i.ip)));
    } else if (tail === "/providers/microsoft.network/networkinterfaces") {
      if (needs(API_VERSIONS.network)) list(this.vmNics().filter((n) => inRg(n.rg)).map((n) => n.json));
    } else if (rg !== undefined && (m = /^\/providers\/microsoft\.network\/networkinterfaces\/([^/]+)$/.exec(tail))) {
      if (!needs(API_VERSIONS.network)) return;
      const nic = this.vmNics().find((n) => same(n.rg, rg) && same(n.name, m![1]!));
      if (nic === undefined) reply(404, notFound("Microsoft.Network/networkInterfaces", m[1]!, rg));
      else reply(200, nic.json);
    } else {
      reply(404, { error: { code: "InvalidResourceType", message: `The fake ARM has no route for '${url.pathname}'.` } });
    }
  }

  private vmNics(): Array<{ rg: string; name: string; json: object }> {
    const inv = this.inventory;
    return inv.vms.map((vm) => ({ rg: vm.nicResourceGroup ?? vm.resourceGroup, name: `${vm.name}-nic`, json: inv.nicJson(inv.vmNicId(vm), inv.vmId(vm), vm.ip) }));
  }

  private page(url: URL, items: object[], reply: (status: number, json: unknown) => void): void {
    const skip = Number(url.searchParams.get("$skiptoken") ?? "0");
    const value = items.slice(skip, skip + this.pageSize);
    const next = skip + this.pageSize < items.length ? new URL(url.pathname, this.url) : undefined;
    if (next !== undefined) {
      for (const [k, v] of url.searchParams) if (k !== "$skiptoken") next.searchParams.set(k, v);
      next.searchParams.set("$skiptoken", String(skip + this.pageSize));
    }
    reply(200, { value, ...(next === undefined ? {} : { nextLink: next.toString() }) });
  }
}

function notFound(type: string, name: string, rg: string): object {
  return { error: { code: "ResourceNotFound", message: `The Resource '${type}/${name}' under resource group '${rg}' was not found.` } };
}

