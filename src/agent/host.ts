/** Facts about this host and build that the agent announces in Hello. */
import { networkInterfaces } from "node:os";
import { meshfedVersion } from "../common/version.js";

/**
 * Non-internal interface addresses: IPv4, and IPv6 except link-local
 * (fe80::/10 needs a zone to be reachable, useless to anyone else).
 */
export function defaultHostAddresses(): string[] {
  const out: string[] = [];
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) {
      if (a.internal) continue;
      if (a.family === "IPv6" && /^fe[89ab]/i.test(a.address)) continue;
      out.push(a.address);
    }
  }
  return [...new Set(out)];
}

/** The meshfed package version this agent runs (common/version.ts). */
export function agentVersion(): string {
  return meshfedVersion();
}
