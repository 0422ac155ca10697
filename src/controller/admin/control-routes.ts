/**
 * Admin routes that change state: join tokens and certificate revocation,
 * plus the connected-proxies view. Registered by the composition root only
 * when the proxy control plane runs.
 */
import { z } from "zod";
import { parseDuration } from "../../common/duration.js";
import { MeshfedError } from "../../common/errors.js";
import { parseServiceKey } from "../../common/service.js";
import type { CertificateManager } from "../certificates/types.js";
import type { JoinTokens } from "../proxy-control-plane/join-tokens.js";
import type { ProxyInfo } from "../proxy-control-plane/session.js";
import { readJsonBody } from "./body.js";
import { json, type AdminRouter } from "./router.js";

const createTokenSchema = z.strictObject({
  service: z.string(),
  serviceAccount: z.string().optional(),
  /** Health probes (docs/agent.md, "Health probes"), checked by JoinTokens.create: MESHFED_PROBE_INVALID. */
  probes: z.array(z.unknown()).max(64).optional(),
  ttl: z.string().default("1h"),
  uses: z.number().int().default(1),
});
const revokeTokenSchema = z.strictObject({ id: z.string().min(1) });
const revokeCertSchema = z.strictObject({ serial: z.string().min(1), reason: z.string().max(256).default("revoked by an operator") });

export interface ControlRouteSources {
  readonly tokens: JoinTokens;
  readonly certificates: Pick<CertificateManager, "revoke">;
  proxies(): readonly ProxyInfo[];
  proxyConfig(proxyId: string, explain: boolean): unknown;
}

export function addControlRoutes(router: AdminRouter, sources: ControlRouteSources): AdminRouter {
  return router
    .add("POST", "/api/v1/tokens", async (req) => {
      const body = await readJsonBody(req, createTokenSchema);
      const { token, info } = await sources.tokens.create({ service: parseServiceKey(body.service), ttlMs: parseDuration(body.ttl), uses: body.uses, serviceAccount: body.serviceAccount, probes: body.probes });
      return json({ token, ...info }, 201);
    })
    .add("GET", "/api/v1/tokens", () => json(sources.tokens.list()))
    .add("POST", "/api/v1/tokens/revoke", async (req) => json(await sources.tokens.revoke((await readJsonBody(req, revokeTokenSchema)).id)))
    .add("POST", "/api/v1/certificates/revoke", async (req) => {
      const body = await readJsonBody(req, revokeCertSchema);
      return json(await sources.certificates.revoke(body.serial, body.reason));
    })
    .add("GET", "/api/v1/proxies", () => json(sources.proxies()))
    .add("GET", "/api/v1/proxies/config", (_req, url) => {
      const id = url.searchParams.get("id") ?? "";
      if (!/^[0-9a-f-]{36}$/.test(id)) throw new MeshfedError("MESHFED_BAD_REQUEST", "query parameter id must be a proxy UUID");
      return json(sources.proxyConfig(id, url.searchParams.get("explain") === "1"));
    });
}
