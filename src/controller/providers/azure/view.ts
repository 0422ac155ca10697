/**
 * The provider's view: instances' endpoints grouped by service, sorted so
 * that two reads of the same inventory compare equal, and the diff that
 * names only the services whose endpoints changed (DESIGN.md §3 flow 1).
 */
import { compareEndpoints, declared } from "../endpoint-lists.js";
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
      slot.endpoints.set(`${ep.ip}|${ep.port}|${entry.id}`, { ip: ep.ip, port: ep.port, source: entry.id, ...declared(ep) });
    }
  }
  const sorted = [...collected.values()].sort((a, b) => compareServiceRefs(a.service, b.service));
  const view = new Map<ServiceKey, ServiceEndpoints>();
  for (const slot of sorted) {
    view.set(serviceKey(slot.service), { service: slot.service, endpoints: Object.freeze([...slot.endpoints.values()].sort(compareEndpoints)) });
  }
  return view;
}

/** A view handed in from elsewhere (another replica's poll), in buildView's order. */
export function viewOf(services: Iterable<ServiceEndpoints>): Map<ServiceKey, ServiceEndpoints> {
  const sorted = [...services].sort((a, b) => compareServiceRefs(a.service, b.service));
  const view = new Map<ServiceKey, ServiceEndpoints>();
  for (const s of sorted) {
    view.set(serviceKey(s.service), { service: { namespace: s.service.namespace, name: s.service.name }, endpoints: Object.freeze([...s.endpoints].sort(compareEndpoints)) });
  }
  return view;
}

export interface SeededEntry {
  readonly entry: ViewEntry & { readonly name: string; readonly lastSeen: number };
  /** Lower-cased, from the resource id; undefined when the id names none. */
  readonly resourceGroup: string | undefined;
}

/**
 * The instances behind a view, rebuilt from the endpoints' sources (ARM
 * resource ids): what a replica that starts polling takes as its last good
 * reading, seen `now`.
 */
export function seedEntries(services: Iterable<ServiceEndpoints>, now: number): SeededEntry[] {
  const byId = new Map<string, { id: string; endpoints: ObservedEndpoint[] }>();
  for (const s of services) {
    for (const e of s.endpoints) {
      let slot = byId.get(e.source.toLowerCase());
      if (slot === undefined) byId.set(e.source.toLowerCase(), (slot = { id: e.source, endpoints: [] }));
      slot.endpoints.push({ service: s.service, ip: e.ip, port: e.port, ...declared(e) });
    }
  }
  return [...byId.values()].map(({ id, endpoints }) => ({
    entry: { id, name: id.slice(id.lastIndexOf("/") + 1), endpoints, lastSeen: now },
    resourceGroup: /\/resourceGroups\/([^/]+)/i.exec(id)?.[1]?.toLowerCase(),
  }));
}
