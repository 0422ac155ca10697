import type { CaptureMode } from "../../common/app-protocol.js";
import { parseServiceKey, serviceKey, type ServiceKey, type ServiceRef } from "../../common/service.js";
import type { EndpointIndex } from "./endpoint-index.js";
import { identityKey, serviceIdentity, type SpecIndex } from "./spec-index.js";
import type { EndpointAddress, OutboundService, ProxyView, SplitBackend } from "./types.js";

export interface ProxyViewInput {
  readonly proxyId: string;
  readonly service: ServiceRef;
  /** Host addresses of the proxy; when given, only endpoints on these addresses are its inbound. */
  readonly addresses?: readonly string[];
  /** How the proxy's host hands it traffic; absent = "none" (explicit mode). */
  readonly capture?: CaptureMode;
}

/**
 * Builds one proxy's view. Cost: the proxy's own endpoints plus the endpoints
 * of the services it may call, which in permissive mode is the whole mesh
 * (that is what permissive means) and otherwise only what TrafficTargets allow.
 */
export function buildProxyView(index: EndpointIndex, spec: SpecIndex, permissive: boolean, input: ProxyViewInput): ProxyView {
  const own = serviceKey(input.service);
  const identity = serviceIdentity(input.service);
  const addresses = input.addresses && input.addresses.length > 0 ? new Set(input.addresses) : undefined;
  const inboundEndpoints = addressesOf(index, own).filter((e) => !addresses || addresses.has(e.ip));
  const rules = permissive ? [] : spec.targetsTo(identity).map((tt) => spec.inboundRule(tt));
  rules.sort((a, b) => cmp(a.trafficTarget, b.trafficTarget));

  const allowed = permissive ? undefined : allowedDestinations(spec, identity);
  const candidates = candidateServices(index, spec, allowed);
  candidates.delete(own);

  const outbound: OutboundService[] = [];
  for (const key of [...candidates].sort()) {
    const out = outboundService(index, spec, key, allowed);
    if (out) outbound.push(out);
  }
  return {
    proxy: { id: input.proxyId, service: { namespace: input.service.namespace, name: input.service.name }, identity, ...(input.capture === undefined ? {} : { capture: input.capture }) },
    inbound: { permissive, endpoints: inboundEndpoints, rules },
    outbound,
  };
}

/**
 * The services whose changes can change this proxy's view: its own and every
 * outbound candidate, present or not yet discovered. `all` in permissive
 * mode, where any new service is a new outbound.
 */
export function proxyDependencies(index: EndpointIndex, spec: SpecIndex, permissive: boolean, service: ServiceRef): { all: boolean; services: Set<ServiceKey> } {
  if (permissive) return { all: true, services: new Set() };
  const allowed = allowedDestinations(spec, serviceIdentity(service));
  const services = candidateServices(index, spec, allowed);
  for (const key of allowed) for (const split of spec.splitsWithBackend(key)) for (const b of split.backends) services.add(`${split.namespace}/${b.service}`);
  services.add(serviceKey(service));
  return { all: false, services };
}

/** Outbound candidates: allowed destinations and the split roots over them; everything when `allowed` is undefined. */
function candidateServices(index: EndpointIndex, spec: SpecIndex, allowed: Set<ServiceKey> | undefined): Set<ServiceKey> {
  const candidates = new Set<ServiceKey>();
  if (allowed) {
    for (const key of allowed) {
      candidates.add(key);
      for (const split of spec.splitsWithBackend(key)) candidates.add(`${split.namespace}/${split.service}`);
    }
  } else {
    for (const key of index.keys()) candidates.add(key);
    for (const split of spec.splits) candidates.add(`${split.namespace}/${split.service}`);
  }
  return candidates;
}

/** Services this identity may call: destinations of TrafficTargets naming it as a source. */
function allowedDestinations(spec: SpecIndex, identity: ReturnType<typeof serviceIdentity>): Set<ServiceKey> {
  const out = new Set<ServiceKey>();
  for (const tt of spec.targetsFrom(identity)) out.add(identityKey(tt.destination));
  return out;
}

function outboundService(index: EndpointIndex, spec: SpecIndex, key: ServiceKey, allowed: Set<ServiceKey> | undefined): OutboundService | undefined {
  const service = index.ref(key) ?? parseServiceKey(key);
  const endpoints = addressesOf(index, key);
  const split = spec.splitFor(key);
  let splitView: OutboundService["split"];
  if (split) {
    const backends: SplitBackend[] = [];
    for (const b of split.backends) {
      const backendKey = `${split.namespace}/${b.service}`;
      // Without a TrafficTarget to a backend, traffic to it would be refused
      // at its inbound anyway: leave it out rather than send requests to die.
      if (allowed && !allowed.has(backendKey)) continue;
      backends.push({ service: { namespace: split.namespace, name: b.service }, weight: b.weight, endpoints: addressesOf(index, backendKey) });
    }
    if (backends.some((b) => b.weight > 0)) {
      splitView = { trafficSplit: identityKey(split), backends, matches: spec.httpMatches(split.namespace, split.matches) };
    }
  }
  const direct = !allowed || allowed.has(key);
  if (!splitView && (!direct || !index.has(key))) return undefined;
  const ports = new Set<number>();
  for (const e of direct ? endpoints : []) ports.add(e.port);
  for (const b of splitView?.backends ?? []) for (const e of b.endpoints) ports.add(e.port);
  return {
    service,
    identity: serviceIdentity(service),
    ports: [...ports].sort((a, b) => a - b),
    endpoints: direct ? endpoints : [],
    ...(splitView ? { split: splitView } : {}),
  };
}

function addressesOf(index: EndpointIndex, key: ServiceKey): EndpointAddress[] {
  return (index.service(key)?.endpoints ?? []).map((e) => ({ ip: e.ip, port: e.port }));
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
