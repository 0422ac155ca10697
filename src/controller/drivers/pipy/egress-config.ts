/**
 * The edge policies in the Pipy config (docs/pipy.md, "config.json"):
 * `outbound.egress` (Egress rules, used by /egress.js from the transparent
 * listener when the mesh refuses destinations outside it) and
 * `inbound.ingress` (IngressBackend rules, used by /ingress.js on the inbound
 * listeners). Both keys are absent when no policy applies, so configs of
 * proxies without these policies are byte-identical to before them.
 *
 * Address ranges are IPv4 in the data plane (capture and SO_ORIGINAL_DST are
 * IPv4, PIPY-NOTES.md); an IPv6 range is left out with a warning.
 */
import { isIP } from "node:net";
import type { EgressRule } from "../../catalog/egress-view.js";
import type { IngressRule } from "../../catalog/ingress-view.js";
import type { ProxyView } from "../../catalog/types.js";
import type { HttpMatch } from "../../spec/types.js";
import type { PipyHttpMatchV1 } from "./pipy-config.js";

export interface PipyEgressRuleV1 {
  /** The Egress, `namespace/name`. */
  readonly egress: string;
  readonly port: number;
  readonly protocol: EgressRule["protocol"];
  /** Lower case; `*.example.com` matches names under example.com. */
  readonly hosts: readonly string[];
  /** IPv4 CIDRs; empty = any destination. */
  readonly ipRanges: readonly string[];
  /** Absent = every request; empty = none. */
  readonly http?: readonly PipyHttpMatchV1[];
}

export interface PipyIngressRuleV1 {
  /** The IngressBackend, `namespace/name`. */
  readonly ingressBackend: string;
  readonly port: number;
  readonly protocol: "http" | "https";
  /** IPv4 CIDRs of allowed callers (IPRange sources and Service sources' endpoints). */
  readonly ipRanges: readonly string[];
  /** Names a client certificate must carry (CN or DNS SAN), lower case. */
  readonly principals: readonly string[];
  readonly skipClientCertValidation: boolean;
  readonly http?: readonly PipyHttpMatchV1[];
}

type MatchOf = (m: HttpMatch) => PipyHttpMatchV1;

/** `{ egress }` for the outbound section, or nothing. */
export function egressConfig(view: Pick<ProxyView, "egress">, match: MatchOf, warnings: string[]): { egress?: { readonly rules: readonly PipyEgressRuleV1[] } } {
  if (!view.egress) return {};
  for (const host of view.egress.meshHosts) warnings.push(`egress host ${host} is a mesh service: the mesh route wins, the Egress rule for it is left out`);
  const rules: PipyEgressRuleV1[] = [];
  for (const r of view.egress.rules) {
    const ipRanges = ipv4Only(r.ipRanges, `Egress ${r.egress}`, warnings);
    // Empty means "any address": a rule whose every range was IPv6 must not widen to that.
    if (r.ipRanges.length > 0 && ipRanges.length === 0) {
      warnings.push(`Egress ${r.egress} port ${r.port}: no IPv4 range left; the rule is left out`);
      continue;
    }
    rules.push({
      egress: r.egress, port: r.port, protocol: r.protocol, hosts: r.hosts, ipRanges,
      ...(r.httpMatches !== undefined ? { http: r.httpMatches.map(match) } : {}),
    });
  }
  return { egress: { rules } };
}

/** `{ ingress }` for the inbound section, or nothing. */
export function ingressConfig(view: { readonly inbound: Pick<ProxyView["inbound"], "ingress"> }, match: MatchOf, warnings: string[]): { ingress?: readonly PipyIngressRuleV1[] } {
  const rules = view.inbound.ingress;
  if (!rules || rules.length === 0) return {};
  return {
    ingress: rules.map((r: IngressRule): PipyIngressRuleV1 => ({
      ingressBackend: r.ingressBackend, port: r.port, protocol: r.protocol,
      ipRanges: ipv4Only(r.ipRanges, `IngressBackend ${r.ingressBackend}`, warnings),
      principals: r.principals,
      skipClientCertValidation: r.skipClientCertValidation ?? false,
      ...(r.httpMatches !== undefined ? { http: r.httpMatches.map(match) } : {}),
    })),
  };
}

function ipv4Only(ranges: readonly string[], what: string, warnings: string[]): string[] {
  const out: string[] = [];
  for (const r of ranges) {
    if (isIP(r.split("/")[0] ?? "") === 4) out.push(r);
    else warnings.push(`${what}: range ${r} is not IPv4 (the data plane captures IPv4 only); left out`);
  }
  return out;
}
