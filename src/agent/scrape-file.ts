/**
 * The sidecar's scrape port on a VM (docs/operations.md "Scraping VMs"):
 * the agent tells its Pipy, in the codebase file /scrape.json, where to
 * listen for Prometheus (proxy.metricsAddress, any address of the host) and
 * where its own admin port is (proxy.adminAddress, loopback). The sidecar's
 * /scrape.js then serves GET /stats/prometheus there, metrics only. The same
 * file in a pod comes from the controller's repo (drivers/pipy pod patch).
 */
import { formatHostPort, parseHostPort, type HostPort } from "../common/address.js";
import { MeshfedError } from "../common/errors.js";
import type { ConfigFileData } from "./config-version.js";

export const SCRAPE_PATH = "/scrape.json";
/** The value of proxy.metricsAddress that turns the scrape port off. */
export const METRICS_OFF = "off";

export interface ScrapeSettings {
  readonly metricsAddress: string;
  readonly adminAddress: string;
}

/** The file the agent adds to the codebase it serves; none when the scrape port is off. */
export function scrapeFiles(p: ScrapeSettings): ConfigFileData[] {
  if (p.metricsAddress === METRICS_OFF) return [];
  const body = JSON.stringify({ admin: formatHostPort(parseHostPort(p.adminAddress)), listen: formatHostPort(parseHostPort(p.metricsAddress)) });
  return [{ path: SCRAPE_PATH, content: Buffer.from(`${body}\n`, "utf8") }];
}

const UNSPECIFIED = new Set(["0.0.0.0", "::"]);

/** Two listeners that cannot both bind: the same port on the same address, or on any address and another. */
function overlaps(a: HostPort, b: HostPort): boolean {
  if (a.port === 0 || a.port !== b.port) return false;
  return a.host === b.host || UNSPECIFIED.has(a.host) || UNSPECIFIED.has(b.host);
}

/** The scrape port must not take the agent's repo port or Pipy's admin port. */
export function checkMetricsAddress(p: ScrapeSettings, repoAddress: string): void {
  if (p.metricsAddress === METRICS_OFF) return;
  const metrics = parseHostPort(p.metricsAddress, "proxy.metricsAddress");
  for (const [what, address] of [["the repo address", repoAddress], ["Pipy's admin address", p.adminAddress]] as const) {
    if (overlaps(metrics, parseHostPort(address))) {
      throw new MeshfedError("MESHFED_AGENT_CONFIG_INVALID", `proxy.metricsAddress ${p.metricsAddress} collides with ${what} ${address}; choose another port or "${METRICS_OFF}"`);
    }
  }
}
