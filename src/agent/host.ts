/** Facts about this host and build that the agent announces in Hello. */
import { readFileSync } from "node:fs";
import { networkInterfaces } from "node:os";
import { bundledVersion } from "../common/bundle-info.js";

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

let version: string | undefined;

/** The meshfed package version (package.json at the repository / package root). */
export function agentVersion(): string {
  version ??= bundledVersion;
  if (version === undefined) {
    try {
      const pkg = JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as { version?: unknown };
      version = typeof pkg.version === "string" ? pkg.version : "unknown";
    } catch {
      version = "unknown";
    }
  }
  return version;
}
