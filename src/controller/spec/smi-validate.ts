/**
 * Cross-object checks on a mesh spec: duplicates and references between
 * objects, which no single document can check alone. Pure, for the file store
 * and for `meshfed validate`.
 *
 * "First wins": when two objects share kind/namespace/name (or two
 * TrafficSplits share a root service), the first in the snapshot's order is
 * kept and the later ones are reported. The file store orders by file name,
 * then document, so the outcome does not depend on directory listing order.
 */
import { MeshfedError } from "../../common/errors.js";
import { SMI_ERROR_CODES, type PolicyKind, type SmiKind, type SmiValue } from "./smi-parse.js";
import { emptyPolicies } from "./policy-types.js";
import { validatePolicies } from "./policy-validate.js";
import type { HTTPRouteGroup, MeshSpecSnapshot, ObjectMeta } from "./types.js";
import type { Position } from "../../common/yaml-position.js";
import { compareStrings } from "../../common/compare.js";

export function emptyMeshSpec(): MeshSpecSnapshot {
  return { trafficSplits: [], trafficTargets: [], httpRouteGroups: [], tcpRoutes: [], ...emptyPolicies() };
}

/**
 * Every cross-object problem in `snapshot`. `positions` (origin -> line and
 * column of the document) lets messages point into the file when known.
 */
export function validateMeshSpec(snapshot: MeshSpecSnapshot, positions?: ReadonlyMap<string, Position>): MeshfedError[] {
  const errors: MeshfedError[] = [];
  const report = (code: string, kind: SmiKind | PolicyKind, obj: ObjectMeta, what: string): void => {
    const pos = positions?.get(obj.origin);
    const hash = obj.origin.lastIndexOf("#");
    const file = hash < 0 ? obj.origin : obj.origin.slice(0, hash);
    const document = hash < 0 ? undefined : Number(obj.origin.slice(hash + 1));
    const where = pos === undefined ? obj.origin : `${file}:${pos.line}:${pos.column}`;
    errors.push(
      new MeshfedError(code, `${where}: ${kind} ${obj.namespace}/${obj.name}${document === undefined ? "" : ` (document ${document})`}: ${what}`, {
        details: { kind, namespace: obj.namespace, name: obj.name, origin: obj.origin, file, document, ...(pos === undefined ? {} : { line: pos.line, column: pos.column }) },
      }),
    );
  };

  const firsts = <T extends ObjectMeta>(kind: SmiKind, list: readonly T[]): Map<string, T> => {
    const byKey = new Map<string, T>();
    for (const obj of list) {
      const key = `${obj.namespace}/${obj.name}`;
      const first = byKey.get(key);
      if (first === undefined) byKey.set(key, obj);
      else report(SMI_ERROR_CODES.duplicate, kind, obj, `duplicate of the ${kind} defined at ${first.origin}; the first one is used`);
    }
    return byKey;
  };

  const splits = firsts("TrafficSplit", snapshot.trafficSplits);
  const targets = firsts("TrafficTarget", snapshot.trafficTargets);
  const groups = firsts("HTTPRouteGroup", snapshot.httpRouteGroups);
  const tcpRoutes = firsts("TCPRoute", snapshot.tcpRoutes);
  const isFirst = (map: Map<string, ObjectMeta>, obj: ObjectMeta): boolean => map.get(`${obj.namespace}/${obj.name}`) === obj;

  const roots = new Map<string, ObjectMeta>();
  for (const split of snapshot.trafficSplits) {
    if (!isFirst(splits, split)) continue;
    const rootKey = `${split.namespace}/${split.service}`;
    const first = roots.get(rootKey);
    if (first !== undefined) {
      report(SMI_ERROR_CODES.duplicate, "TrafficSplit", split, `root service ${rootKey} is already split by ${first.namespace}/${first.name} (${first.origin}); the first one is used`);
      continue;
    }
    roots.set(rootKey, split);
    for (const match of split.matches) {
      if (!groups.has(`${split.namespace}/${match}`)) {
        report(SMI_ERROR_CODES.missingRoute, "TrafficSplit", split, `matches HTTPRouteGroup "${match}", which does not exist in namespace ${split.namespace}`);
      }
    }
  }

  for (const target of snapshot.trafficTargets) {
    if (!isFirst(targets, target)) continue;
    for (const rule of target.rules) {
      const key = `${target.namespace}/${rule.name}`;
      if (rule.kind === "TCPRoute") {
        if (!tcpRoutes.has(key)) report(SMI_ERROR_CODES.missingRoute, "TrafficTarget", target, `rule names TCPRoute "${rule.name}", which does not exist in namespace ${target.namespace}`);
        continue;
      }
      const group: HTTPRouteGroup | undefined = groups.get(key);
      if (group === undefined) {
        report(SMI_ERROR_CODES.missingRoute, "TrafficTarget", target, `rule names HTTPRouteGroup "${rule.name}", which does not exist in namespace ${target.namespace}`);
        continue;
      }
      const names = new Set(group.matches.map((m) => m.name));
      const missing = rule.matches.filter((m) => !names.has(m));
      if (missing.length > 0) {
        report(SMI_ERROR_CODES.missingRoute, "TrafficTarget", target, `rule names match(es) ${missing.map((m) => `"${m}"`).join(", ")} not defined in HTTPRouteGroup ${key}`);
      }
    }
  }
  validatePolicies(snapshot, report);
  return errors;
}

/**
 * Builds the spec to apply from parsed objects: runs validateMeshSpec and drops
 * every object an error names (a TrafficTarget with a dangling rule is dropped
 * whole: access is deny-by-default, so dropping it only ever removes access;
 * likewise an Egress or IngressBackend whose `matches` name nothing, which
 * only ever removes what it would have allowed).
 * The result is sorted by namespace/name, so equal inputs give equal output.
 * Objects read from files carry a position (messages then point at a line);
 * custom resources read from the API server have none.
 */
export function resolveMeshSpec(objects: readonly (SmiValue & { readonly position?: Position })[]): { snapshot: MeshSpecSnapshot; errors: MeshfedError[] } {
  const candidate = {
    trafficSplits: objects.flatMap((o) => (o.kind === "TrafficSplit" ? [o.object] : [])),
    trafficTargets: objects.flatMap((o) => (o.kind === "TrafficTarget" ? [o.object] : [])),
    httpRouteGroups: objects.flatMap((o) => (o.kind === "HTTPRouteGroup" ? [o.object] : [])),
    tcpRoutes: objects.flatMap((o) => (o.kind === "TCPRoute" ? [o.object] : [])),
    egresses: objects.flatMap((o) => (o.kind === "Egress" ? [o.object] : [])),
    ingressBackends: objects.flatMap((o) => (o.kind === "IngressBackend" ? [o.object] : [])),
    upstreamTrafficSettings: objects.flatMap((o) => (o.kind === "UpstreamTrafficSetting" ? [o.object] : [])),
    retries: objects.flatMap((o) => (o.kind === "Retry" ? [o.object] : [])),
  };
  const positions = new Map(objects.flatMap((o) => (o.position === undefined ? [] : [[o.object.origin, o.position] as const])));
  const errors = validateMeshSpec(candidate, positions);
  const rejected = new Set(errors.map((e) => `${String(e.details.kind)}\0${String(e.details.origin)}`));
  const keep = <T extends ObjectMeta>(kind: SmiKind | PolicyKind, list: readonly T[]): T[] =>
    list.filter((o) => !rejected.has(`${kind}\0${o.origin}`)).sort(compareMeta);
  return {
    snapshot: {
      trafficSplits: keep("TrafficSplit", candidate.trafficSplits),
      trafficTargets: keep("TrafficTarget", candidate.trafficTargets),
      httpRouteGroups: keep("HTTPRouteGroup", candidate.httpRouteGroups),
      tcpRoutes: keep("TCPRoute", candidate.tcpRoutes),
      egresses: keep("Egress", candidate.egresses),
      ingressBackends: keep("IngressBackend", candidate.ingressBackends),
      upstreamTrafficSettings: keep("UpstreamTrafficSetting", candidate.upstreamTrafficSettings),
      retries: keep("Retry", candidate.retries),
    },
    errors,
  };
}

function compareMeta(a: ObjectMeta, b: ObjectMeta): number {
  return compareStrings(`${a.namespace}/${a.name}`, `${b.namespace}/${b.name}`);
}
