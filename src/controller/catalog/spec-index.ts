import type { ServiceKey, ServiceRef } from "../../common/service.js";
import type { HTTPRouteGroup, HttpMatch, IdentityRef, MeshSpecSnapshot, RuleRef, TCPRoute, TrafficSplit, TrafficTarget } from "../spec/types.js";
import type { PolicySnapshot } from "../spec/policy-types.js";
import { ResilienceIndex } from "./resilience-view.js";
import type { InboundRule } from "./types.js";
import { compareStrings } from "../../common/compare.js";

export const identityKey = (id: { namespace: string; name: string }): string => `${id.namespace}/${id.name}`;

/**
 * The identity of a service none of whose endpoints declares an account: a
 * ServiceAccount named like the service (what every identity was before
 * accounts existed, so old configurations keep their meaning). Declared
 * accounts (pods' ServiceAccounts, hosts files, tokens, tags) come from the
 * endpoint index; see proxyIdentity() in proxy-view.ts.
 */
export function serviceIdentity(service: ServiceRef): IdentityRef {
  return { kind: "ServiceAccount", namespace: service.namespace, name: service.name };
}

const push = <K, V>(map: Map<K, V[]>, key: K, value: V): void => {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
};

/**
 * The mesh spec indexed the ways the catalog asks it: by source identity (what
 * may this proxy call), by destination identity (who may call it), by split
 * root and by split backend. Rebuilt whole on a spec change: policies are few
 * compared with endpoints, and a spec change may touch every proxy anyway.
 */
export class SpecIndex {
  readonly #bySource = new Map<string, TrafficTarget[]>();
  readonly #byDestination = new Map<string, TrafficTarget[]>();
  readonly #routeGroups = new Map<string, HTTPRouteGroup>();
  readonly #tcpRoutes = new Map<string, TCPRoute>();
  readonly #splitByRoot = new Map<ServiceKey, TrafficSplit>();
  readonly #splitsByBackend = new Map<ServiceKey, TrafficSplit[]>();
  readonly splits: readonly TrafficSplit[];
  /** osm-edge's policy kinds as the spec gave them (egress-view.ts, ingress-view.ts read them). */
  readonly policies: PolicySnapshot;
  /** UpstreamTrafficSettings and Retries (issue 18). */
  readonly resilience: ResilienceIndex;

  constructor(spec: MeshSpecSnapshot) {
    this.policies = { egresses: spec.egresses, ingressBackends: spec.ingressBackends, upstreamTrafficSettings: spec.upstreamTrafficSettings, retries: spec.retries };
    this.resilience = new ResilienceIndex(spec);
    for (const tt of spec.trafficTargets) {
      push(this.#byDestination, identityKey(tt.destination), tt);
      for (const source of new Set(tt.sources.map(identityKey))) push(this.#bySource, source, tt);
    }
    for (const g of spec.httpRouteGroups) this.#routeGroups.set(identityKey(g), g);
    for (const r of spec.tcpRoutes) this.#tcpRoutes.set(identityKey(r), r);
    // Several splits on one root are a user error the spec store reports; the
    // first by name wins here so the outcome is at least deterministic.
    const splits = [...spec.trafficSplits].sort((a, b) => compareStrings(identityKey(a), identityKey(b)));
    this.splits = splits;
    for (const split of splits) {
      const root = `${split.namespace}/${split.service}`;
      if (!this.#splitByRoot.has(root)) this.#splitByRoot.set(root, split);
      for (const b of split.backends) push(this.#splitsByBackend, `${split.namespace}/${b.service}`, split);
    }
  }

  targetsFrom(identity: IdentityRef): readonly TrafficTarget[] {
    return this.#bySource.get(identityKey(identity)) ?? [];
  }

  targetsTo(identity: IdentityRef): readonly TrafficTarget[] {
    return this.#byDestination.get(identityKey(identity)) ?? [];
  }

  splitFor(root: ServiceKey): TrafficSplit | undefined {
    return this.#splitByRoot.get(root);
  }

  splitsWithBackend(service: ServiceKey): readonly TrafficSplit[] {
    return this.#splitsByBackend.get(service) ?? [];
  }

  httpMatches(namespace: string, names: readonly string[]): HttpMatch[] {
    const out: HttpMatch[] = [];
    for (const name of names) out.push(...(this.#routeGroups.get(`${namespace}/${name}`)?.matches ?? []));
    return out;
  }

  /** An HTTPRouteGroup's matches, undefined when there is no group of that name. */
  routeGroup(namespace: string, name: string): readonly HttpMatch[] | undefined {
    return this.#routeGroups.get(`${namespace}/${name}`)?.matches;
  }

  /** Turns a TrafficTarget into the allow rule the inbound side enforces. */
  inboundRule(tt: TrafficTarget): InboundRule {
    const httpMatches: HttpMatch[] = [];
    const tcpPorts = new Set<number>();
    let anyTcpPort = false;
    for (const rule of tt.rules) {
      if (rule.kind === "HTTPRouteGroup") httpMatches.push(...this.#selectMatches(tt.namespace, rule));
      else {
        const route = this.#tcpRoutes.get(`${tt.namespace}/${rule.name}`);
        if (!route) continue;
        if (route.ports.length === 0) anyTcpPort = true;
        for (const p of route.ports) tcpPorts.add(p);
      }
    }
    return {
      trafficTarget: identityKey(tt),
      sources: [...tt.sources].sort((a, b) => compareStrings(identityKey(a), identityKey(b))),
      httpMatches,
      tcpPorts: [...tcpPorts].sort((a, b) => a - b),
      anyTcpPort,
      ...(tt.destination.port !== undefined ? { port: tt.destination.port } : {}),
    };
  }

  #selectMatches(namespace: string, rule: RuleRef): HttpMatch[] {
    const group = this.#routeGroups.get(`${namespace}/${rule.name}`);
    if (!group) return [];
    if (rule.matches.length === 0) return [...group.matches];
    const wanted = new Set(rule.matches);
    return group.matches.filter((m) => wanted.has(m.name));
  }
}
