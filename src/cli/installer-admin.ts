/** The installer's view of the controller (src/installer/types.ts ControllerAdmin), over the admin API. */
import { z } from "zod";
import { MeshfedError } from "../common/errors.js";
import { serviceKey } from "../common/service.js";
import type { ControllerAdmin } from "../installer/types.js";
import { adminGet, adminPost, type AdminClientOptions } from "./admin-client.js";

const tokenSchema = z.object({ token: z.string().min(1) });
const proxiesSchema = z.array(z.object({ proxyId: z.string() }));
const certificatesSchema = z.array(z.object({ serial: z.string(), proxyId: z.string().optional(), state: z.string() }));
/** Many hosts poll at once while they wait; one answer serves them all for this long. */
const PROXIES_CACHE_MS = 250;

export function httpControllerAdmin(options: AdminClientOptions, tokenTtl = "15m"): ControllerAdmin {
  let cached: { at: number; ids: Promise<Set<string>> } | undefined;
  const connectedIds = () => {
    if (cached === undefined || performance.now() - cached.at > PROXIES_CACHE_MS) {
      const ids = adminGet(options, "api/v1/proxies").then((body) => new Set(parse(proxiesSchema, body, "GET /api/v1/proxies").map((p) => p.proxyId)));
      cached = { at: performance.now(), ids };
      ids.catch(() => (cached = undefined));
    }
    return cached.ids;
  };
  return {
    createToken: async (service) => parse(tokenSchema, await adminPost(options, "api/v1/tokens", { service: serviceKey(service), ttl: tokenTtl, uses: 1 }), "POST /api/v1/tokens").token,
    caBundle: async () => {
      const pem = await adminGet(options, "api/v1/ca");
      if (typeof pem !== "string" || !pem.includes("BEGIN CERTIFICATE")) throw new MeshfedError("MESHFED_ADMIN_ERROR", "GET /api/v1/ca did not return a PEM bundle");
      return pem;
    },
    isConnected: async (proxyId) => (await connectedIds()).has(proxyId),
    revokeProxy: async (proxyId, reason) => {
      const rows = parse(certificatesSchema, await adminGet(options, "api/v1/certificates"), "GET /api/v1/certificates");
      const live = rows.filter((c) => c.proxyId === proxyId && (c.state === "unclaimed" || c.state === "claimed")).map((c) => c.serial);
      for (const serial of live) await adminPost(options, "api/v1/certificates/revoke", { serial, reason });
      return live;
    },
  };
}

function parse<T extends z.ZodType>(schema: T, body: unknown, what: string): z.output<T> {
  const parsed = schema.safeParse(body);
  if (!parsed.success) throw new MeshfedError("MESHFED_ADMIN_ERROR", `${what} answered an unexpected body: ${parsed.error.issues[0]?.message ?? "invalid"}`);
  return parsed.data;
}
