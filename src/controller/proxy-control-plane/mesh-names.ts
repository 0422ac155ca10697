/**
 * The mesh name table one agent's DNS answers from (docs/dataplane.md "Mesh
 * names"): for every service its proxy may call that has a mesh VIP,
 * `<svc>.<ns>.svc.<trustDomain>` and `<svc>.<ns>.svc` → the VIP.
 *
 * Not `<svc>.<ns>`: two labels collide with real domains (`api.io` for a
 * service "api" in a namespace "io"), so the agent could not own them; and a
 * VM has no Kubernetes search path that would expand a short name. The zones
 * listed are the suffixes the agent owns: anything under them that is not a
 * record is NXDOMAIN, so a typo never leaks a mesh name to the host's resolver.
 */
import { createHash } from "node:crypto";
import type { MeshNames } from "../../generated/proto/meshfed/v1/MeshNames.js";
import type { ProxyView } from "../catalog/types.js";

export interface MeshNameTable {
  readonly hash: string;
  readonly zones: readonly string[];
  readonly records: ReadonlyArray<{ readonly name: string; readonly ipv4: readonly string[] }>;
}

export function meshNameZones(trustDomain: string): string[] {
  return [`svc.${trustDomain.toLowerCase()}`, "svc"];
}

export function buildMeshNames(view: ProxyView, trustDomain: string): MeshNameTable {
  const zones = meshNameZones(trustDomain);
  const records: Array<{ name: string; ipv4: string[] }> = [];
  for (const out of view.outbound) {
    if (out.vip === undefined) continue;
    const base = `${out.service.name}.${out.service.namespace}`.toLowerCase();
    for (const zone of zones) records.push({ name: `${base}.${zone}`, ipv4: [out.vip] });
  }
  records.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const hash = createHash("sha256").update(JSON.stringify({ zones, records })).digest("hex");
  return { hash, zones, records };
}

export function meshNamesMessage(table: MeshNameTable): MeshNames {
  return { hash: table.hash, zones: [...table.zones], records: table.records.map((r) => ({ name: r.name, ipv4: [...r.ipv4] })) };
}
