import { serviceKey } from "../../common/service.js";
import type { EndpointIndex } from "./endpoint-index.js";
import { identityKey, type SpecIndex } from "./spec-index.js";
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
 * (and its file and document) that allows it.
 */
export function explainProxyView(view: ProxyView, index: EndpointIndex, spec: SpecIndex): ViewExplanation[] {
  const out: ViewExplanation[] = [];
  const provenance = (service: string, ip: string, port: number): string[] =>
    index.service(service)?.endpoints.find((e) => e.ip === ip && e.port === port)?.provenance.map((p) => `${p.provider} ${p.source}`) ?? [];
  const own = serviceKey(view.proxy.service);
  for (const e of view.inbound.endpoints) out.push({ part: `inbound endpoint ${e.ip}:${e.port}`, from: provenance(own, e.ip, e.port) });
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
    for (const e of o.endpoints) out.push({ part: `outbound ${key} endpoint ${e.ip}:${e.port}`, from: provenance(key, e.ip, e.port) });
    if (o.split) {
      const split = spec.splitFor(key);
      out.push({ part: `outbound ${key} split ${o.split.backends.map((b) => `${b.service.name}=${b.weight}`).join(" ")}`, from: [`TrafficSplit ${o.split.trafficSplit}${split ? ` (${split.origin})` : ""}`] });
      for (const b of o.split.backends) {
        const bk = serviceKey(b.service);
        for (const e of b.endpoints) out.push({ part: `outbound ${key} backend ${bk} endpoint ${e.ip}:${e.port}`, from: provenance(bk, e.ip, e.port) });
      }
    }
  }
  return out;
}
