/**
 * The provider's view: instances' endpoints grouped by service, sorted so
 * that two reads of the same inventory compare equal, and the diff that
 * names only the services whose endpoints changed (DESIGN.md §3 flow 1).
 */
import { compareEndpoints } from "../endpoint-lists.js";
import { compareServiceRefs, serviceKey, type ServiceKey, type ServiceRef } from "../../../common/service.js";
import type { ProviderEndpoint, ServiceEndpoints } from "../types.js";
import type { ObservedEndpoint } from "./scope-reader.js";

export interface ViewEntry {
  /** The ARM resource id: the provenance source of its endpoints. */
  readonly id: string;
  readonly endpoints: readonly ObservedEndpoint[];
}

export function buildView(entries: Iterable<ViewEntry>): Map<ServiceKey, ServiceEndpoints> {
  const collected = new Map<ServiceKey, { service: ServiceRef; endpoints: Map<string, ProviderEndpoint> }>();
  for (const entry of entries) {
    for (const ep of entry.endpoints) {
      const key = serviceKey(ep.service);
      let slot = collected.get(key);
      if (slot === undefined) {
        slot = { service: { namespace: ep.service.namespace, name: ep.service.name }, endpoints: new Map() };
        collected.set(key, slot);
      }
      slot.endpoints.set(`${ep.ip}|${ep.port}|${entry.id}`, { ip: ep.ip, port: ep.port, source: entry.id });
    }
  }
  const sorted = [...collected.values()].sort((a, b) => compareServiceRefs(a.service, b.service));
  const view = new Map<ServiceKey, ServiceEndpoints>();
  for (const slot of sorted) {
    view.set(serviceKey(slot.service), { service: slot.service, endpoints: Object.freeze([...slot.endpoints.values()].sort(compareEndpoints)) });
  }
  return view;
}
