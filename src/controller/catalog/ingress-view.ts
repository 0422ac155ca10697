/**
 * IngressBackend (osm-edge `policy.openservicemesh.io/v1alpha1`) in a
 * proxy's view: who outside the mesh may reach one of this proxy's backend
 * ports. Without an IngressBackend an inbound listener admits mesh mTLS only
 * (a TrafficTarget names the caller's certificate); that stays the default
 * for every port no IngressBackend names.
 *
 * An IngressBackend applies to the proxy when one of its backends is the
 * proxy's service (same namespace, `name`) on a port the proxy fronts. Its
 * sources become:
 * - `IPRange`: the caller's address is in the range;
 * - `Service`: the caller's address is one of that service's endpoint
 *   addresses in the catalog (the ingress controller's pods or hosts), so the
 *   rule follows the ingress as it scales;
 * - `AuthenticatedPrincipal`: over mTLS, the client certificate (issued by
 *   the mesh CA) names this principal (CN or DNS SAN).
 * A backend port of protocol `http` takes plaintext HTTP from the address
 * sources; `https` takes TLS: with `skipClientCertValidation` from the address
 * sources without a client certificate, else mTLS from a principal (or from an
 * address source that also presents a mesh certificate). Several
 * IngressBackends for one port are a union; rules are sorted by name.
 */
import { isIP } from "node:net";
import type { HttpMatch } from "../spec/types.js";
import type { IngressBackend, LocalObjectRef } from "../spec/policy-types.js";
import type { EndpointAddress } from "./types.js";
import { compareStrings } from "../../common/compare.js";

export interface IngressRule {
  /** The IngressBackend this rule comes from, `namespace/name`. */
  readonly ingressBackend: string;
  readonly port: number;
  readonly protocol: "http" | "https";
  /** CIDRs of allowed callers: IPRange sources plus the Service sources' endpoint addresses (/32, /128). */
  readonly ipRanges: readonly string[];
  /** Service sources (`namespace/name`), for --explain and re-rendering when their endpoints move. */
  readonly sourceServices: readonly string[];
  /** AuthenticatedPrincipal names, lower case. */
  readonly principals: readonly string[];
  /** https only: whether a client certificate is not required (osm-edge `skipClientCertValidation`). */
  readonly skipClientCertValidation?: boolean;
  /** undefined = every request; [] = none (the named route groups do not exist). */
  readonly httpMatches?: readonly HttpMatch[];
}

export interface IngressInputs {
  readonly ingressBackends: readonly IngressBackend[];
  routeGroup(namespace: string, name: string): readonly HttpMatch[] | undefined;
  /** The endpoint addresses of a mesh service (`namespace/name`); [] when it has none. */
  endpointsOf(key: string): readonly EndpointAddress[];
}

/** The IngressBackends that name this service as a backend (for dependencies too). */
export function ingressBackendsFor(service: { namespace: string; name: string }, all: readonly IngressBackend[]): IngressBackend[] {
  return all
    .filter((ib) => ib.namespace === service.namespace && ib.backends.some((b) => b.name === service.name))
    .sort((a, b) => compareStrings(a.name, b.name));
}

/** The services whose endpoints an IngressBackend of this proxy's service admits: the proxy re-renders when they move. */
export function ingressSourceServices(service: { namespace: string; name: string }, all: readonly IngressBackend[]): string[] {
  const out = new Set<string>();
  for (const ib of ingressBackendsFor(service, all)) for (const s of ib.sources) if (s.kind === "Service") out.add(`${s.namespace}/${s.name}`);
  return [...out].sort();
}

/** The ingress rules for a proxy's ports; undefined when no IngressBackend names its service on them. */
export function ingressRules(service: { namespace: string; name: string }, ports: readonly number[], inputs: IngressInputs): IngressRule[] | undefined {
  const local = new Set(ports);
  const rules: IngressRule[] = [];
  for (const ib of ingressBackendsFor(service, inputs.ingressBackends)) {
    const ranges = new Set<string>();
    const services = new Set<string>();
    const principals = new Set<string>();
    for (const s of ib.sources) {
      if (s.kind === "IPRange") ranges.add(s.name);
      else if (s.kind === "AuthenticatedPrincipal") principals.add(s.name.toLowerCase());
      else {
        const key = `${s.namespace}/${s.name}`;
        services.add(key);
        for (const e of inputs.endpointsOf(key)) ranges.add(`${e.ip}/${isIP(e.ip) === 6 ? 128 : 32}`);
      }
    }
    const httpMatches = matchesOf(ib.namespace, ib.matches, inputs);
    for (const b of ib.backends) {
      if (b.name !== service.name || !local.has(b.port.number)) continue;
      const protocol = b.port.protocol === "https" ? "https" : "http";
      rules.push({
        ingressBackend: `${ib.namespace}/${ib.name}`, port: b.port.number, protocol,
        ipRanges: [...ranges].sort(), sourceServices: [...services].sort(), principals: [...principals].sort(),
        ...(protocol === "https" ? { skipClientCertValidation: b.tls?.skipClientCertValidation ?? false } : {}),
        ...(httpMatches !== undefined ? { httpMatches } : {}),
      });
    }
  }
  rules.sort((a, b) => a.port - b.port || compareStrings(a.ingressBackend, b.ingressBackend));
  return rules.length > 0 ? rules : undefined;
}

function matchesOf(namespace: string, refs: readonly LocalObjectRef[], inputs: IngressInputs): HttpMatch[] | undefined {
  const groups = refs.filter((r) => r.kind === "HTTPRouteGroup");
  if (groups.length === 0) return undefined;
  const out: HttpMatch[] = [];
  for (const g of groups) out.push(...(inputs.routeGroup(namespace, g.name) ?? []));
  return out;
}
