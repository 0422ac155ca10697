import type { AppProtocol, CaptureMode, PortProtocols } from "../../common/app-protocol.js";
import { parseServiceKey, serviceKey, type ServiceKey, type ServiceRef } from "../../common/service.js";
import type { IdentityRef } from "../spec/types.js";
import { edgePolicyDependencies, edgePolicyParts } from "./edge-policies.js";
import type { EndpointIndex } from "./endpoint-index.js";
import { ALL_LIVE, offeredEndpoints, type EndpointLiveness } from "./offered-endpoints.js";
import { resilienceParts } from "./resilience-view.js";
import type { ViewParts } from "./view-parts.js";
import { identityKey, serviceIdentity, type SpecIndex } from "./spec-index.js";
import type { CatalogEndpoint, EndpointAddress, OutboundService, ProxyDependencies, ProxyView, SplitBackend } from "./types.js";
import { compareStrings } from "../../common/compare.js";

/** Per-service addresses beyond the endpoints: the mesh VIP and the platform's virtual IPs. */
export interface ServiceAddresses {
  vip(service: ServiceKey): string | undefined;
  virtualIPs(service: ServiceKey): readonly string[] | undefined;
}

const NO_ADDRESSES: ServiceAddresses = { vip: () => undefined, virtualIPs: () => undefined };

export interface ProxyViewInput {
  readonly proxyId: string;
  readonly service: ServiceRef;
  /** Host addresses of the proxy; when given, only endpoints on these addresses are its inbound. */
  readonly addresses?: readonly string[];
  /**
   * The account the proxy's certificate names (an agent's join token). When
   * absent the account is the one its inbound endpoints run as (a pod's
   * ServiceAccount), else the service's name.
   */
  readonly serviceAccount?: string;
  /** How the proxy's host hands it traffic; absent = "none" (explicit mode). */
  readonly capture?: CaptureMode;
}

/** Where a proxy's identity comes from, for `--explain`. */
export type IdentityOrigin = "certificate" | "endpoints" | "service name";

/**
 * A proxy's identity (osm-edge: the ServiceAccount it runs as). Its own
 * certificate's account first; else the account its local endpoints run as
 * (the first in order, when they differ: one proxy fronts one workload); else
 * the service's accounts or, with no endpoints at all, the service's name.
 */
export function proxyIdentity(index: EndpointIndex, input: ProxyViewInput): { identity: IdentityRef; origin: IdentityOrigin } {
  const { namespace } = input.service;
  const account = (name: string): IdentityRef => ({ kind: "ServiceAccount", namespace, name });
  if (input.serviceAccount !== undefined) return { identity: account(input.serviceAccount), origin: "certificate" };
  // The first account in sorted order (`<` is sort()'s order for strings), without building the sorted list: a push asks this several times per proxy.
  let first: string | undefined;
  for (const e of inboundEndpoints(index, input)) if (first === undefined || e.serviceAccount < first) first = e.serviceAccount;
  if (first !== undefined) return { identity: account(first), origin: "endpoints" };
  return { identity: serviceIdentity(input.service), origin: "service name" };
}

function inboundEndpoints(index: EndpointIndex, input: ProxyViewInput): readonly CatalogEndpoint[] {
  const all = index.service(serviceKey(input.service))?.endpoints ?? [];
  const addresses = input.addresses;
  if (addresses === undefined || addresses.length === 0) return all;
  // A host has one or a few addresses: a scan is cheaper than a Set per call (a push asks several times per proxy).
  if (addresses.length <= 8) return all.filter((e) => addresses.includes(e.ip));
  const set = new Set(addresses);
  return all.filter((e) => set.has(e.ip));
}

/**
 * Builds one proxy's view. Cost: the proxy's own endpoints plus the endpoints
 * of the services it may call, which in permissive mode is the whole mesh
 * (that is what permissive means) and otherwise only what TrafficTargets allow.
 *
 * Identities are accounts (osm-edge semantics): inbound rules are the
 * TrafficTargets whose destination is this proxy's account; it may call
 * every service with an endpoint running as an account a TrafficTarget
 * names as destination for its own account as source.
 */
export function buildProxyView(
  index: EndpointIndex, spec: SpecIndex, permissive: boolean, input: ProxyViewInput,
  addresses: ServiceAddresses = NO_ADDRESSES, liveness: EndpointLiveness = ALL_LIVE, parts?: ViewParts,
  identity: IdentityRef = proxyIdentity(index, input).identity,
): ProxyView {
  const own = serviceKey(input.service);
  const local = inboundEndpoints(index, input);
  const ports = [...new Set(local.map((e) => e.port))];
  const build = (): SharedViewParts => sharedViewParts(index, spec, permissive, input.service, identity, ports, addresses, liveness);
  const shared = parts === undefined ? build() : parts.get(`${own}\n${identityKey(identity)}\n${ports.join(",")}`, build);
  const protocols = portProtocols(local);
  return {
    proxy: { id: input.proxyId, service: { namespace: input.service.namespace, name: input.service.name }, identity, ...(input.capture === undefined ? {} : { capture: input.capture }) },
    inbound: {
      permissive, endpoints: local.map((e) => ({ ip: e.ip, port: e.port })), ...(protocols ? { protocols } : {}), rules: shared.rules,
      ...(shared.ingress ? { ingress: shared.ingress } : {}), ...(shared.rateLimit ? { rateLimit: shared.rateLimit } : {}),
    },
    outbound: shared.outbound,
    ...(shared.egress ? { egress: shared.egress } : {}),
  };
}

/**
 * Everything in a view that depends on the proxy's service, its identity and
 * its local ports, not on which of the service's hosts it is: every proxy of
 * one service with one account on the same ports has the same parts.
 */
export interface SharedViewParts {
  readonly rules: ProxyView["inbound"]["rules"];
  readonly ingress?: ProxyView["inbound"]["ingress"];
  readonly rateLimit?: ProxyView["inbound"]["rateLimit"];
  readonly outbound: ProxyView["outbound"];
  readonly egress?: ProxyView["egress"];
}

function sharedViewParts(
  index: EndpointIndex, spec: SpecIndex, permissive: boolean, service: ServiceRef, identity: IdentityRef, ports: readonly number[],
  addresses: ServiceAddresses, liveness: EndpointLiveness,
): SharedViewParts {
  const own = serviceKey(service);
  const rules = permissive ? [] : spec.targetsTo(identity).map((tt) => spec.inboundRule(tt));
  rules.sort((a, b) => compareStrings(a.trafficTarget, b.trafficTarget));

  const allowed = permissive ? undefined : allowedDestinations(index, spec, identity);
  const candidates = candidateServices(index, spec, allowed);
  candidates.delete(own);

  const outbound: OutboundService[] = [];
  for (const key of [...candidates].sort()) {
    const out = outboundService(index, spec, key, allowed, addresses, liveness);
    if (out) outbound.push(out);
  }
  // Egress and IngressBackend: absent when no policy applies, so views without them render as before.
  const { egress, ingress } = edgePolicyParts(index, spec, identity, service, ports);
  const resilient = resilienceParts(spec.resilience, own, identity, outbound);
  return {
    rules, outbound: resilient.outbound,
    ...(ingress ? { ingress } : {}), ...(resilient.rateLimit ? { rateLimit: resilient.rateLimit } : {}), ...(egress ? { egress } : {}),
  };
}

/**
 * The services and accounts whose changes can change this proxy's view: its
 * own service, every outbound candidate (present or not yet discovered) and
 * the accounts it may call (a new service under one of them is a new
 * outbound). `all` in permissive mode, where any new service is a new outbound.
 */
export function proxyDependencies(
  index: EndpointIndex, spec: SpecIndex, permissive: boolean, input: ProxyViewInput, parts?: ViewParts,
  identity: IdentityRef = proxyIdentity(index, input).identity,
): ProxyDependencies {
  if (permissive) return PERMISSIVE_DEPENDENCIES;
  if (parts === undefined) return dependenciesOf(index, spec, input.service, identity);
  return parts.dependencies(`${serviceKey(input.service)}\n${identityKey(identity)}`, () => dependenciesOf(index, spec, input.service, identity));
}

const PERMISSIVE_DEPENDENCIES: ProxyDependencies = Object.freeze({ all: true, services: new Set<ServiceKey>() });

function dependenciesOf(index: EndpointIndex, spec: SpecIndex, service: ServiceRef, identity: IdentityRef): ProxyDependencies {
  const edge = edgePolicyDependencies(spec, identity, service);
  const allowed = allowedDestinations(index, spec, identity);
  const services = candidateServices(index, spec, allowed);
  for (const key of allowed) for (const split of spec.splitsWithBackend(key)) for (const b of split.backends) services.add(`${split.namespace}/${b.service}`);
  // Account keys share the `namespace/name` shape of service keys; a service
  // and an account with the same name only cost a spare render, whose
  // unchanged hash is never resent.
  for (const tt of spec.targetsFrom(identity)) services.add(identityKey(tt.destination));
  services.add(serviceKey(service));
  for (const key of edge) services.add(key);
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

/**
 * Services this identity may call: those with an endpoint running as an
 * account that a TrafficTarget naming this identity as a source has as its
 * destination (one account may back several services).
 */
function allowedDestinations(index: EndpointIndex, spec: SpecIndex, identity: IdentityRef): Set<ServiceKey> {
  const out = new Set<ServiceKey>();
  for (const tt of spec.targetsFrom(identity)) for (const key of index.servicesOf(identityKey(tt.destination))) out.add(key);
  return out;
}

function outboundService(
  index: EndpointIndex, spec: SpecIndex, key: ServiceKey, allowed: Set<ServiceKey> | undefined, addresses: ServiceAddresses, liveness: EndpointLiveness,
): OutboundService | undefined {
  const service = index.ref(key) ?? parseServiceKey(key);
  const direct = !allowed || allowed.has(key);
  const split = spec.splitFor(key);
  // Without a TrafficTarget to a backend, traffic to it would be refused
  // at its inbound anyway: leave it out rather than send requests to die.
  const splitBackends = (split?.backends ?? []).filter((b) => !allowed || allowed.has(`${split!.namespace}/${b.service}`));
  // Everything a caller of this service may reach, for the last-resort rule on endpoints whose proxy is gone.
  const pools = [
    { service: key, endpoints: direct ? (index.service(key)?.endpoints ?? []) : [] },
    ...splitBackends.map((b) => ({ service: `${split!.namespace}/${b.service}`, endpoints: index.service(`${split!.namespace}/${b.service}`)?.endpoints ?? [] })),
  ];
  const offered = offeredEndpoints(pools, liveness);
  const endpoints = pools[0]!.endpoints;
  let splitView: OutboundService["split"];
  const all: CatalogEndpoint[] = [];
  if (split) {
    const backends: SplitBackend[] = [];
    splitBackends.forEach((b, i) => {
      const backendKey = pools[i + 1]!.service;
      const ref = { namespace: split.namespace, name: b.service };
      // Protocols and ports come from every endpoint; only the list offered to callers is filtered.
      const backendEndpoints = pools[i + 1]!.endpoints;
      all.push(...backendEndpoints);
      const identities = identitiesOf(index, backendKey, ref);
      const protocols = portProtocols(backendEndpoints);
      backends.push({
        service: ref, weight: b.weight, endpoints: toAddresses(offered[i + 1]!),
        // Absent = the backend's service-named identity (the contract), so listed only when that is not the answer.
        ...(identities.length === 1 && identityKey(identities[0]!) === identityKey(serviceIdentity(ref)) ? {} : { identities }),
        ...(protocols ? { protocols } : {}),
      });
    });
    if (backends.some((b) => b.weight > 0)) {
      splitView = { trafficSplit: identityKey(split), backends, matches: spec.httpMatches(split.namespace, split.matches) };
    }
  }
  if (!splitView && (!direct || !index.has(key))) return undefined;
  if (direct) all.unshift(...endpoints);
  const ports = new Set<number>();
  for (const e of direct ? endpoints : []) ports.add(e.port);
  for (const pool of pools.slice(1)) if (splitView) for (const e of pool.endpoints) ports.add(e.port);
  const identities = identitiesOf(index, key, service);
  const protocols = portProtocols(all);
  const vip = addresses.vip(key);
  const virtualIPs = addresses.virtualIPs(key);
  return {
    service,
    identity: identities[0]!,
    ports: [...ports].sort((a, b) => a - b),
    endpoints: direct ? toAddresses(offered[0]!) : [],
    ...(identities.length > 1 ? { identities } : {}),
    ...(protocols ? { protocols } : {}),
    ...(vip !== undefined ? { vip } : {}),
    ...(virtualIPs !== undefined && virtualIPs.length > 0 ? { virtualIPs } : {}),
    ...(splitView ? { split: splitView } : {}),
  };
}

/** Every account a service's endpoints run as, sorted; the service-named identity when it has none. */
function identitiesOf(index: EndpointIndex, key: ServiceKey, service: ServiceRef): IdentityRef[] {
  const accounts = index.accountsOf(key);
  if (accounts.length === 0) return [serviceIdentity(service)];
  return accounts.map((a) => {
    const slash = a.indexOf("/");
    return { kind: "ServiceAccount", namespace: a.slice(0, slash), name: a.slice(slash + 1) };
  });
}

/**
 * Protocol per port over some endpoints; undefined when every port is http
 * (the contract's "absent = http", which keeps views without declarations
 * byte-identical to before). Endpoints of one port that disagree (two VMs
 * declaring differently) are settled by majority, then by the first in
 * (ip, port) order; the catalog lists each endpoint's own protocol.
 */
export function portProtocols(endpoints: readonly CatalogEndpoint[]): PortProtocols | undefined {
  const votes = new Map<number, Map<AppProtocol, number>>();
  for (const e of endpoints) {
    let byProtocol = votes.get(e.port);
    if (!byProtocol) votes.set(e.port, (byProtocol = new Map<AppProtocol, number>()));
    byProtocol.set(e.protocol, (byProtocol.get(e.protocol) ?? 0) + 1);
  }
  const out: Record<string, AppProtocol> = {};
  let declared = false;
  for (const port of [...votes.keys()].sort((a, b) => a - b)) {
    let best: AppProtocol | undefined;
    let bestVotes = 0;
    // Map order is first-seen order, i.e. (ip, port) order: a tie keeps the first.
    for (const [protocol, n] of votes.get(port)!) if (n > bestVotes) [best, bestVotes] = [protocol, n];
    out[String(port)] = best!;
    if (best !== "http") declared = true;
  }
  return declared ? out : undefined;
}

function toAddresses(endpoints: readonly CatalogEndpoint[]): EndpointAddress[] {
  return endpoints.map((e) => ({ ip: e.ip, port: e.port }));
}
