/**
 * `meshfed proxies --scrape-targets`: the VM sidecars' scrape ports as a
 * Prometheus file_sd document (docs/operations.md "Scraping VMs"). Pods are
 * found by Prometheus itself (their prometheus.io annotations); agents are
 * listed by the controller with the addresses their Hello reported. The
 * port is each agent's proxy.metricsAddress, which the controller is not
 * told: the flag gives it (default: the agent's default, 15090).
 */
import { formatHostPort } from "../common/address.js";

export interface ScrapeTargetGroup {
  readonly targets: readonly string[];
  readonly labels: Readonly<Record<string, string>>;
}

/**
 * One group per proxy, on its first address: a host's other addresses lead
 * to the same Pipy, and scraping it twice would count its traffic twice.
 * Proxies without an address are left out. Sorted by proxy id, so that a
 * file rewritten by cron changes only when the fleet does.
 */
export function scrapeTargets(proxies: ReadonlyArray<{ readonly proxyId: string; readonly service: string; readonly addresses: readonly string[] }>, port: number): ScrapeTargetGroup[] {
  return [...proxies]
    .filter((p) => p.addresses.length > 0)
    .sort((a, b) => (a.proxyId < b.proxyId ? -1 : a.proxyId > b.proxyId ? 1 : 0))
    .map((p) => ({ targets: [formatHostPort({ host: p.addresses[0]!, port })], labels: { meshfed_proxy: p.proxyId, meshfed_service: p.service } }));
}
