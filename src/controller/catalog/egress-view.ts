/**
 * Egress (osm-edge `policy.openservicemesh.io/v1alpha1` Egress) in a proxy's
 * view: which destinations outside the mesh this proxy's identity may reach
 * when the mesh refuses everything else (`mesh.outboundPassthrough: false`,
 * osm-edge `enableEgress: false`). Only Egresses that name the identity as a
 * source count: another identity's proxy gets none of their rules.
 *
 * Semantics, following osm-edge's catalog (pkg/catalog/egress.go):
 * - an `http` (or `grpc`) port: a request is allowed when its Host is one of
 *   `hosts` (a leading `*.` is a suffix match) and, when `ipAddresses` is
 *   set, the original destination is in one of them; with `matches` naming
 *   HTTPRouteGroups, only requests matching one of their matches;
 * - an `https` port: TLS passes through untouched (no termination) when the
 *   ClientHello's SNI is one of `hosts` (and the destination in
 *   `ipAddresses`, when set);
 * - a `tcp` / `tcp-server-first` port: the destination in `ipAddresses`; none
 *   listed = any destination on that port (osm-edge's TrafficMatch without
 *   ranges).
 * Several Egresses for one source are a union (each is an allow list); rules
 * are sorted by Egress name, so the one that admits a request is stable.
 *
 * Mesh wins: a host that names a mesh service (`svc.ns`, `svc.ns.svc...`) is
 * left out here and listed in `meshHosts`, and the data plane looks the
 * original destination up among mesh services before it looks at any Egress,
 * so an Egress can never send mesh traffic around the sidecars' mTLS.
 */
import type { HttpMatch, IdentityRef } from "../spec/types.js";
import type { Egress, LocalObjectRef } from "../spec/policy-types.js";
import { compareStrings } from "../../common/compare.js";

export type EgressProtocol = "http" | "http2" | "https" | "tcp";

export interface EgressRule {
  /** The Egress this rule comes from, `namespace/name`. */
  readonly egress: string;
  readonly port: number;
  readonly protocol: EgressProtocol;
  /** Lower-case host names; `*.example.com` matches any name under example.com. */
  readonly hosts: readonly string[];
  /** CIDRs; empty = any destination address. */
  readonly ipRanges: readonly string[];
  /** undefined = every request; [] = none (the Egress named route groups that do not exist). */
  readonly httpMatches?: readonly HttpMatch[];
}

export interface EgressView {
  readonly rules: readonly EgressRule[];
  /** Hosts of these Egresses that are mesh services: the mesh route wins, the host is not an egress rule. */
  readonly meshHosts: readonly string[];
}

/** What egress rules need from the spec and the catalog. */
export interface EgressInputs {
  readonly egresses: readonly Egress[];
  /** The matches of an HTTPRouteGroup, undefined when there is none of that name. */
  routeGroup(namespace: string, name: string): readonly HttpMatch[] | undefined;
  /** True when `namespace/name` is a mesh service. */
  isMeshService(key: string): boolean;
}

const ROUTE_GROUP_KIND = "HTTPRouteGroup";

/** The egress part of a proxy's view; undefined when no Egress names the identity. */
export function egressView(identity: IdentityRef, inputs: EgressInputs): EgressView | undefined {
  const mine = inputs.egresses
    .filter((e) => e.sources.some((s) => s.namespace === identity.namespace && s.name === identity.name))
    .sort((a, b) => compareStrings(`${a.namespace}/${a.name}`, `${b.namespace}/${b.name}`));
  if (mine.length === 0) return undefined;
  const rules: EgressRule[] = [];
  const meshHosts = new Set<string>();
  for (const e of mine) {
    const hosts: string[] = [];
    for (const raw of e.hosts) {
      const host = raw.toLowerCase();
      if (isMeshHost(host, inputs)) meshHosts.add(host);
      else hosts.push(host);
    }
    const httpMatches = matchesOf(e.namespace, e.matches, inputs);
    for (const p of e.ports) {
      const protocol = egressProtocol(p.protocol);
      // A host-based port whose every host is a mesh service has nothing left to allow.
      if ((protocol === "http" || protocol === "http2" || protocol === "https") && hosts.length === 0 && e.ipAddresses.length === 0) continue;
      rules.push({
        egress: `${e.namespace}/${e.name}`, port: p.number, protocol,
        hosts: protocol === "tcp" ? [] : [...new Set(hosts)].sort(),
        ipRanges: [...new Set(e.ipAddresses)].sort(),
        ...(httpMatches !== undefined && protocol !== "tcp" && protocol !== "https" ? { httpMatches } : {}),
      });
    }
  }
  rules.sort((a, b) => a.port - b.port || compareStrings(a.egress, b.egress) || compareStrings(a.protocol, b.protocol));
  return { rules, meshHosts: [...meshHosts].sort() };
}

function egressProtocol(p: Egress["ports"][number]["protocol"]): EgressProtocol {
  switch (p) {
    case "http": return "http";
    case "grpc": return "http2";
    case "https": return "https";
    case "tcp":
    case "tcp-server-first": return "tcp";
  }
}

/** `matches` restricts HTTP only through HTTPRouteGroups; other kinds (UpstreamTrafficSetting) do not restrict. */
function matchesOf(namespace: string, refs: readonly LocalObjectRef[], inputs: EgressInputs): HttpMatch[] | undefined {
  const groups = refs.filter((r) => r.kind === ROUTE_GROUP_KIND);
  if (groups.length === 0) return undefined;
  const out: HttpMatch[] = [];
  // A named group that does not exist allows nothing (fail closed), as a TrafficTarget's would.
  for (const g of groups) out.push(...(inputs.routeGroup(namespace, g.name) ?? []));
  return out;
}

/** `name.ns`, `name.ns.svc` or `name.ns.svc.<anything>` naming a mesh service. */
function isMeshHost(host: string, inputs: EgressInputs): boolean {
  const labels = host.split(".");
  if (labels.length < 2 || (labels.length > 2 && labels[2] !== "svc")) return false;
  return inputs.isMeshService(`${labels[1]}/${labels[0]}`);
}

/** Service keys the hosts of this identity's Egresses would name if they were mesh services. */
export function egressMeshCandidates(identity: IdentityRef, egresses: readonly Egress[]): string[] {
  const out = new Set<string>();
  for (const e of egresses) {
    if (!e.sources.some((s) => s.namespace === identity.namespace && s.name === identity.name)) continue;
    for (const h of e.hosts) {
      const labels = h.toLowerCase().split(".");
      if (labels.length >= 2 && (labels.length === 2 || labels[2] === "svc")) out.add(`${labels[1]}/${labels[0]}`);
    }
  }
  return [...out].sort();
}
