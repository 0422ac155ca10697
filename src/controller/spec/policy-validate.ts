/**
 * Cross-object checks on osm-edge's policy kinds, in the style of
 * smi-validate.ts (which calls this): duplicates, `matches` that name an
 * HTTPRouteGroup or UpstreamTrafficSetting missing from the namespace, two
 * UpstreamTrafficSettings for one host, two IngressBackends for one backend
 * port. "First wins" as for SMI objects: the first in the snapshot's order
 * (file name then document; oldest custom resource first) is kept and the
 * later ones are reported, so adding a conflicting object never displaces a
 * working one.
 */
import { POLICY_ERROR_CODES } from "./policy-parse.js";
import type { PolicyKind } from "./policy-schema.js";
import type { LocalObjectRef } from "./policy-types.js";
import type { MeshSpecSnapshot, ObjectMeta } from "./types.js";

export type Report = (code: string, kind: PolicyKind, obj: ObjectMeta, what: string) => void;

export function validatePolicies(snapshot: MeshSpecSnapshot, report: Report): void {
  const firsts = <T extends ObjectMeta>(kind: PolicyKind, list: readonly T[]): Map<string, T> => {
    const byKey = new Map<string, T>();
    for (const obj of list) {
      const key = `${obj.namespace}/${obj.name}`;
      const first = byKey.get(key);
      if (first === undefined) byKey.set(key, obj);
      else report(POLICY_ERROR_CODES.duplicate, kind, obj, `duplicate of the ${kind} defined at ${first.origin}; the first one is used`);
    }
    return byKey;
  };
  const isFirst = (map: Map<string, ObjectMeta>, obj: ObjectMeta): boolean => map.get(`${obj.namespace}/${obj.name}`) === obj;

  const egresses = firsts("Egress", snapshot.egresses);
  const backends = firsts("IngressBackend", snapshot.ingressBackends);
  const settings = firsts("UpstreamTrafficSetting", snapshot.upstreamTrafficSettings);
  firsts("Retry", snapshot.retries);

  // One setting per host, mesh-wide: osm-edge's lookup by host takes the
  // first it finds, so two would apply in no defined order. Settings that
  // lose here are dropped, so matches below only see the winners.
  const byHost = new Map<string, ObjectMeta>();
  const usable = new Set<string>();
  for (const s of snapshot.upstreamTrafficSettings) {
    if (!isFirst(settings, s)) continue;
    const host = s.host.toLowerCase();
    const first = byHost.get(host);
    if (first !== undefined) {
      report(POLICY_ERROR_CODES.conflict, "UpstreamTrafficSetting", s, `host ${host} already has UpstreamTrafficSetting ${first.namespace}/${first.name} (${first.origin}); the first one is used`);
      continue;
    }
    byHost.set(host, s);
    usable.add(`${s.namespace}/${s.name}`);
  }

  const groups = new Set(snapshot.httpRouteGroups.map((g) => `${g.namespace}/${g.name}`));
  const checkMatches = (kind: PolicyKind, obj: ObjectMeta & { readonly matches: readonly LocalObjectRef[] }): void => {
    for (const m of obj.matches) {
      const key = `${obj.namespace}/${m.name}`;
      const found = m.kind === "HTTPRouteGroup" ? groups.has(key) : usable.has(key);
      if (!found) report(POLICY_ERROR_CODES.missingMatch, kind, obj, `matches ${m.kind} "${m.name}", which does not exist in namespace ${obj.namespace}`);
    }
  };
  for (const e of snapshot.egresses) if (isFirst(egresses, e)) checkMatches("Egress", e);

  // One IngressBackend per backend port, as osm-edge's admission webhook
  // enforces: two would each claim to be the rule for that port.
  const ports = new Map<string, ObjectMeta>();
  for (const b of snapshot.ingressBackends) {
    if (!isFirst(backends, b)) continue;
    checkMatches("IngressBackend", b);
    const claimed = b.backends.map((t) => `${b.namespace}/${t.name}:${t.port.number}`);
    const taken = claimed.map((k) => [k, ports.get(k)] as const).find(([, o]) => o !== undefined);
    if (taken !== undefined) {
      const [k, o] = taken;
      report(POLICY_ERROR_CODES.conflict, "IngressBackend", b, `backend ${k} is already admitted by IngressBackend ${o!.namespace}/${o!.name} (${o!.origin}); the first one is used`);
      continue;
    }
    for (const k of claimed) ports.set(k, b);
  }
}
