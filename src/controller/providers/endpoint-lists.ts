/**
 * Small pure helpers every provider needs to keep its view canonical and to
 * report only real changes: one endpoint order, one equality, one diff.
 * Providers import this parent-level module; they never import each other.
 */
import type { AppProtocol } from "../../common/app-protocol.js";
import type { ServiceKey } from "../../common/service.js";
import type { ProviderEndpoint, ServiceEndpoints } from "./types.js";
import { compareStrings } from "../../common/compare.js";

/** Canonical order: ip, then port, then source. */
export function compareEndpoints(a: ProviderEndpoint, b: ProviderEndpoint): number {
  return compareStrings(a.ip, b.ip) || a.port - b.port || compareStrings(a.source, b.source);
}

/** Equality of two endpoint lists already in canonical order. */
export function sameEndpoints(a: readonly ProviderEndpoint[], b: readonly ProviderEndpoint[]): boolean {
  if (a.length !== b.length) return false;
  return a.every((e, i) => {
    const o = b[i];
    // Protocol and account are part of what a proxy renders: a change to either is a change.
    return o !== undefined && e.ip === o.ip && e.port === o.port && e.source === o.source && e.protocol === o.protocol && e.serviceAccount === o.serviceAccount;
  });
}

/** Keys of services added, removed or whose endpoint list differs; sorted. */
export function changedServices(before: ReadonlyMap<ServiceKey, ServiceEndpoints>, after: ReadonlyMap<ServiceKey, ServiceEndpoints>): ServiceKey[] {
  const changed: ServiceKey[] = [];
  for (const [key, entry] of after) {
    const old = before.get(key);
    if (old === undefined || !sameEndpoints(old.endpoints, entry.endpoints)) changed.push(key);
  }
  for (const key of before.keys()) if (!after.has(key)) changed.push(key);
  return changed.sort();
}

/** Endpoints in a view, summed over its services (status and gauges). */
export function countEndpoints(view: ReadonlyMap<ServiceKey, ServiceEndpoints>): number {
  let n = 0;
  for (const s of view.values()) n += s.endpoints.length;
  return n;
}

/** An endpoint's optional declarations, copied only when present (an absent key and `undefined` differ under deep equality). */
export function declared(e: { readonly protocol?: AppProtocol | undefined; readonly serviceAccount?: string | undefined }): { protocol?: AppProtocol; serviceAccount?: string } {
  return { ...(e.protocol === undefined ? {} : { protocol: e.protocol }), ...(e.serviceAccount === undefined ? {} : { serviceAccount: e.serviceAccount }) };
}
