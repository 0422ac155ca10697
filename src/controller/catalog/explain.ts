import { serviceKey } from "../../common/service.js";
import { explainEdgePolicies } from "./edge-policies.js";
import type { EndpointIndex } from "./endpoint-index.js";
import { identityKey, type SpecIndex } from "./spec-index.js";
import type { IdentityOrigin } from "./proxy-view.js";
import type { ProxyView } from "./types.js";

/** One part of a proxy's view and what produced it: provider sources, policy objects and their files. */
export interface ViewExplanation {
  readonly part: string;
  readonly from: readonly string[];
}

/**
 * Says where each part of a ProxyView comes from, for `meshfed proxy config
 * --explain`: every endpoint with the providers and source objects that
 * report it, every inbound rule and outbound service with the SMI object
 * (and its file and document) that allows it; the proxy's identity and
 * every port's protocol with the declaration that decided it.
 */
export function explainProxyView(view: ProxyView, index: EndpointIndex, spec: SpecIndex, identityOrigin?: IdentityOrigin): ViewExplanation[] {
  const out: ViewExplanation[] = [];
  const provenance = (service: string, ip: string, port: number): string[] =>
    index.service(service)?.endpoints.find((e) => e.ip === ip && e.port === port)?.provenance.map((p) => `${p.provider} ${p.source}`) ?? [];
  // "<protocol> (<provider> <source>)", or "http (not declared)".
  const protocolOf = (service: string, ip: string, port: number): { part: string; from: string[] } => {
    const e = index.service(service)?.endpoints.find((x) => x.ip === ip && x.port === port);
    const from = index.declarationSources(service, ip, port).protocol;
    return { part: `protocol ${e?.protocol ?? "http"}`, from: [from ?? "not declared: http"] };
  };
  const own = serviceKey(view.proxy.service);
  out.push({ part: `identity ${identityKey(view.proxy.identity)}`, from: [identitySource(identityOrigin, view, index)] });
  for (const e of view.inbound.endpoints) {
    out.push({ part: `inbound endpoint ${e.ip}:${e.port}`, from: provenance(own, e.ip, e.port) });
    const p = protocolOf(own, e.ip, e.port);
    out.push({ part: `inbound endpoint ${e.ip}:${e.port} ${p.part}`, from: p.from });
  }
  if (view.inbound.permissive) out.push({ part: "inbound: every mesh identity allowed", from: ["mesh.permissive (controller config or MeshConfig)"] });
  const targets = new Map(spec.targetsTo(view.proxy.identity).map((tt) => [identityKey(tt), tt]));
  for (const rule of view.inbound.rules) {
    const tt = targets.get(rule.trafficTarget);
    out.push({
      part: `inbound allow from ${rule.sources.map(identityKey).join(", ")}`,
      from: [`TrafficTarget ${rule.trafficTarget}${tt ? ` (${tt.origin})` : ""}`],
    });
  }
  const allowedBy = new Map<string, string[]>();
  for (const tt of spec.targetsFrom(view.proxy.identity)) {
    const list = allowedBy.get(identityKey(tt.destination)) ?? [];
    list.push(`TrafficTarget ${identityKey(tt)} (${tt.origin})`);
    allowedBy.set(identityKey(tt.destination), list);
  }
  for (const o of view.outbound) {
    const key = serviceKey(o.service);
    const why = view.inbound.permissive ? ["mesh.permissive"] : (allowedBy.get(key) ?? []);
    out.push({ part: `outbound ${key}`, from: why.length > 0 ? why : ["only as the root of a TrafficSplit"] });
    const ids = o.identities ?? [o.identity];
    out.push({ part: `outbound ${key} identities ${ids.map(identityKey).join(", ")}`, from: [index.accountsOf(key).length > 0 ? "the accounts its endpoints run as" : "no endpoint declares an account: the service's name"] });
    for (const e of o.endpoints) {
      out.push({ part: `outbound ${key} endpoint ${e.ip}:${e.port}`, from: provenance(key, e.ip, e.port) });
      const p = protocolOf(key, e.ip, e.port);
      out.push({ part: `outbound ${key} endpoint ${e.ip}:${e.port} ${p.part}`, from: p.from });
    }
    if (o.split) {
      const split = spec.splitFor(key);
      out.push({ part: `outbound ${key} split ${o.split.backends.map((b) => `${b.service.name}=${b.weight}`).join(" ")}`, from: [`TrafficSplit ${o.split.trafficSplit}${split ? ` (${split.origin})` : ""}`] });
      for (const b of o.split.backends) {
        const bk = serviceKey(b.service);
        for (const e of b.endpoints) out.push({ part: `outbound ${key} backend ${bk} endpoint ${e.ip}:${e.port}`, from: provenance(bk, e.ip, e.port) });
      }
    }
  }
  out.push(...explainEdgePolicies(view, spec));
  return out;
}

function identitySource(origin: IdentityOrigin | undefined, view: ProxyView, index: EndpointIndex): string {
  const own = serviceKey(view.proxy.service);
  switch (origin) {
    case "certificate":
      return "the proxy certificate (its join token's serviceAccount)";
    case "endpoints": {
      const e = view.inbound.endpoints[0];
      const from = e === undefined ? undefined : index.declarationSources(own, e.ip, e.port).serviceAccount;
      return `the account its endpoints run as (${from ?? "none declared: the service's name"})`;
    }
    default:
      return "no account declared: the service's name";
  }
}
