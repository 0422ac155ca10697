/**
 * An agent's report of its endpoints' probed health (Hello and Health field
 * endpoint_health; docs/agent.md, "Health probes"), validated at the edge.
 * An agent speaks only for the endpoints it announced: anything else is
 * dropped, as is an entry that is not well formed (one bad entry does not
 * cost the others). Strings are bounded: they end up in the admin API.
 */
import { isIP } from "node:net";
import { z } from "zod";
import type { EndpointHealth__Output } from "../../generated/proto/meshfed/v1/EndpointHealth.js";
import type { EndpointHealthInfo } from "../providers/types.js";

const entrySchema = z.object({
  ip: z.string().refine((v) => isIP(v) !== 0),
  port: z.number().int().min(1).max(65535),
  state: z.enum(["healthy", "unhealthy", "unknown"]),
  reason: z.string().transform((s) => s.slice(0, 512)),
  since: z.string().transform((s) => s.slice(0, 64)),
  probe: z.string().transform((s) => s.slice(0, 256)),
  source: z.string().transform((s) => s.slice(0, 16)),
});

/** At most one entry per announced endpoint; an empty list from an agent without probes or an older agent. */
export function validEndpointHealth(
  raw: readonly EndpointHealth__Output[] | null | undefined,
  announced: ReadonlyArray<{ readonly ip: string; readonly port: number }>,
): EndpointHealthInfo[] {
  const own = new Set(announced.map((e) => `${e.ip}|${e.port}`));
  const out = new Map<string, EndpointHealthInfo>();
  for (const entry of (raw ?? []).slice(0, 256)) {
    const parsed = entrySchema.safeParse(entry);
    if (!parsed.success) continue;
    const e = { ...parsed.data, ip: parsed.data.ip.toLowerCase() };
    const key = `${e.ip}|${e.port}`;
    if (own.has(key) && !out.has(key)) out.set(key, e);
  }
  return [...out.values()];
}
