/**
 * The glue between the catalog's indexes and the two edge policies of a
 * proxy's view: Egress (traffic leaving the mesh, egress-view.ts) and
 * IngressBackend (traffic entering it, ingress-view.ts). Kept apart so that
 * proxy-view.ts only calls in, and the policy modules stay testable with
 * plain inputs.
 */
import type { ServiceKey, ServiceRef } from "../../common/service.js";
import type { IdentityRef } from "../spec/types.js";
import type { EndpointIndex } from "./endpoint-index.js";
import { egressMeshCandidates, egressView, type EgressView } from "./egress-view.js";
import { ingressRules, ingressSourceServices, type IngressRule } from "./ingress-view.js";
import type { SpecIndex } from "./spec-index.js";
import type { ProxyView } from "./types.js";

/** The egress part of the view and the ingress rules of its inbound ports (each absent when no policy applies). */
export function edgePolicyParts(
  index: EndpointIndex, spec: SpecIndex, identity: IdentityRef, service: ServiceRef, ports: readonly number[],
): { egress?: EgressView; ingress?: IngressRule[] } {
  const routeGroup = (namespace: string, name: string) => spec.routeGroup(namespace, name);
  const egress = egressView(identity, {
    egresses: spec.policies.egresses, routeGroup,
    isMeshService: (key) => index.has(key) || spec.splitFor(key) !== undefined,
  });
  const ingress = ingressRules(service, ports, {
    ingressBackends: spec.policies.ingressBackends, routeGroup,
    endpointsOf: (key) => (index.service(key)?.endpoints ?? []).map((e) => ({ ip: e.ip, port: e.port })),
  });
  return { ...(egress ? { egress } : {}), ...(ingress ? { ingress } : {}) };
}

/**
 * Services whose changes can change those parts: the ingress sources (their
 * endpoints are the allowed addresses) and the mesh services an Egress host
 * could name (one appearing makes that host a mesh route).
 */
export function edgePolicyDependencies(spec: SpecIndex, identity: IdentityRef, service: ServiceRef): ServiceKey[] {
  return [...ingressSourceServices(service, spec.policies.ingressBackends), ...egressMeshCandidates(identity, spec.policies.egresses)];
}

/** `--explain` lines for the egress and ingress parts: each rule with the object (and file) behind it. */
export function explainEdgePolicies(view: ProxyView, spec: SpecIndex): { part: string; from: string[] }[] {
  const out: { part: string; from: string[] }[] = [];
  const origin = (list: readonly { namespace: string; name: string; origin: string }[], key: string) => list.find((o) => `${o.namespace}/${o.name}` === key)?.origin;
  for (const r of view.egress?.rules ?? []) {
    const where = [...r.hosts, ...r.ipRanges].join(", ") || "any address";
    const o = origin(spec.policies.egresses, r.egress);
    out.push({ part: `egress ${r.protocol} port ${r.port} to ${where}${r.httpMatches ? ` (${r.httpMatches.length} route matches)` : ""}`, from: [`Egress ${r.egress}${o ? ` (${o})` : ""}`] });
  }
  for (const host of view.egress?.meshHosts ?? []) out.push({ part: `egress host ${host} left out`, from: ["a mesh service: the mesh route wins"] });
  for (const r of view.inbound.ingress ?? []) {
    const o = origin(spec.policies.ingressBackends, r.ingressBackend);
    const who = [...r.ipRanges, ...r.principals.map((p) => `principal ${p}`)].join(", ") || "nobody";
    out.push({ part: `inbound ${r.protocol} port ${r.port} from outside the mesh: ${who}`, from: [`IngressBackend ${r.ingressBackend}${o ? ` (${o})` : ""}`, ...r.sourceServices.map((s) => `endpoints of Service ${s}`)] });
  }
  out.push(...explainResilience(view, spec, origin));
  return out;
}

/** `--explain` lines for UpstreamTrafficSetting and Retry parts; unset fields are left to the renderer's defaults and not listed. */
function explainResilience(
  view: ProxyView,
  spec: SpecIndex,
  origin: (list: readonly { namespace: string; name: string; origin: string }[], key: string) => string | undefined,
): { part: string; from: string[] }[] {
  const out: { part: string; from: string[] }[] = [];
  const uts = (key: string) => {
    const o = origin(spec.policies.upstreamTrafficSettings, key);
    return `UpstreamTrafficSetting ${key}${o ? ` (${o})` : ""}`;
  };
  const set = (fields: Record<string, unknown>) => Object.entries(fields).filter(([, v]) => v !== undefined).map(([k, v]) => `${k}=${typeof v === "string" || typeof v === "number" || typeof v === "boolean" ? String(v) : JSON.stringify(v)}`).join(" ");
  for (const o of view.outbound) {
    const key = `${o.service.namespace}/${o.service.name}`;
    if (o.limits) {
      const { upstreamTrafficSetting, circuitBreaking, ...limits } = o.limits;
      const listed = set(limits);
      if (listed !== "") out.push({ part: `outbound ${key} limits ${listed}`, from: [uts(upstreamTrafficSetting)] });
      if (circuitBreaking) out.push({ part: `outbound ${key} circuit breaking ${set({ ...circuitBreaking })}`, from: [uts(upstreamTrafficSetting)] });
    }
    if (o.retry) {
      const r = origin(spec.policies.retries, o.retry.retry);
      const { retry, ...policy } = o.retry;
      out.push({ part: `outbound ${key} retry ${set({ ...policy, retryOn: policy.retryOn.join(",") })}`, from: [`Retry ${retry}${r ? ` (${r})` : ""}`] });
    } else {
      out.push({ part: `outbound ${key} retry: the default (another endpoint, twice, on connect failure or 502/503/504 of idempotent requests)`, from: ["no Retry from this identity to the service"] });
    }
  }
  const rl = view.inbound.rateLimit;
  if (rl) {
    if (rl.tcp) out.push({ part: `inbound connections limited to ${rl.tcp.amount}/${rl.tcp.unit} burst ${rl.tcp.burst}`, from: [uts(rl.upstreamTrafficSetting)] });
    if (rl.http) out.push({ part: `inbound requests limited to ${rl.http.amount}/${rl.http.unit} burst ${rl.http.burst}`, from: [uts(rl.upstreamTrafficSetting)] });
    for (const route of rl.routes) out.push({ part: `inbound requests on ${route.path} limited to ${route.rateLimit.amount}/${route.rateLimit.unit} burst ${route.rateLimit.burst}`, from: [uts(rl.upstreamTrafficSetting)] });
  }
  return out;
}
