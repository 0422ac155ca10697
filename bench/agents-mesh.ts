/**
 * The mesh the agents benchmark runs on, as the controller's own input files.
 *
 * - S services `bench/svc-0 … svc-(S-1)`, agent i belongs to svc-(i mod S)
 *   and announces `<its host>:8080`.
 * - policy.yaml: a ring of TrafficTargets, svc-i may call svc-(i+1). A proxy's
 *   view therefore holds its own endpoint and the N/S endpoints of the next
 *   service, and a change of svc-k reaches only the proxies of svc-(k-1).
 * - hosts.yaml: services no agent runs. `bench/shared` (nobody may call it
 *   yet), and one extra host `ext-r` per endpoint-change round r, for
 *   service svc-K(r); round r moves that host to another address.
 * - The mesh-wide change, shared.yaml: one TrafficTarget letting every
 *   service call `bench/shared`, so every proxy's view gains an outbound.
 */
import { rename, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

export const NAMESPACE = "bench";
export const AGENT_PORT = 8080;
/** bench/shared's one endpoint: in a proxy's config exactly when it may call bench/shared, whatever the driver. */
export const SHARED_ADDRESS = "10.250.255.1";

export const serviceName = (s: number): string => `svc-${s}`;

/** Announced address of agent i: 127.0.0.2 upwards (all of 127/8 is loopback on Linux, but only announced here). */
export function hostAddress(i: number): string {
  const a = i + 2;
  return `127.${(a >> 16) & 255}.${(a >> 8) & 255}.${a & 255}`;
}

/** The service whose extra host moves in endpoint-change round r. */
export function roundService(r: number, services: number, rounds: number): number {
  return (r * Math.max(1, Math.floor(services / rounds)) + 1) % services;
}

/** Address of ext-r before (moved = false) and after its round. */
export const extAddress = (r: number, moved: boolean): string => `10.250.${r}.${moved ? 2 : 1}`;

export function hostsYaml(services: number, rounds: number, moved: number): string {
  const lines = ["hosts:", "  - name: shared-1", `    address: ${SHARED_ADDRESS}`, `    services: [{ name: shared, namespace: ${NAMESPACE}, port: ${AGENT_PORT} }]`];
  for (let r = 0; r < rounds; r++) {
    lines.push(`  - name: ext-${r}`, `    address: ${extAddress(r, r < moved)}`);
    lines.push(`    services: [{ name: ${serviceName(roundService(r, services, rounds))}, namespace: ${NAMESPACE}, port: ${AGENT_PORT} }]`);
  }
  return `${lines.join("\n")}\n`;
}

const TCP_ROUTE = `apiVersion: specs.smi-spec.io/v1alpha4
kind: TCPRoute
metadata: { name: any, namespace: ${NAMESPACE} }
spec: {}
`;

function trafficTarget(name: string, destination: string, sources: readonly string[]): string {
  return `apiVersion: access.smi-spec.io/v1alpha3
kind: TrafficTarget
metadata: { name: ${name}, namespace: ${NAMESPACE} }
spec:
  destination: { kind: ServiceAccount, name: ${destination} }
  sources: [${sources.map((s) => `{ kind: ServiceAccount, name: ${s} }`).join(", ")}]
  rules: [{ kind: TCPRoute, name: any }]
`;
}

export function ringPolicyYaml(services: number): string {
  const docs = [TCP_ROUTE];
  for (let s = 0; s < services; s++) docs.push(trafficTarget(`ring-${s}`, serviceName((s + 1) % services), [serviceName(s)]));
  return docs.join("---\n");
}

export function sharedPolicyYaml(services: number): string {
  return trafficTarget("all-to-shared", "shared", Array.from({ length: services }, (_, s) => serviceName(s)));
}

/**
 * Writes a file the way careful tools do (temp name, then rename), so the
 * watcher never reads half a file. Resolves with Date.now() taken just
 * before the rename: the moment the change becomes visible.
 */
export async function replaceFile(path: string, text: string): Promise<number> {
  const tmp = join(dirname(path), `.${basename(path)}.tmp`);
  await writeFile(tmp, text);
  const at = Date.now();
  await rename(tmp, path);
  return at;
}
