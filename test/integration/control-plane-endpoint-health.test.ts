// Proto compatibility of endpoint health (issue 18 item 6): an older agent's
// Hello and Health carry no endpoint_health and its endpoints stay ready; a
// newer agent's report in Hello counts from the first catalog update and one
// in Health changes it; a report about an endpoint the agent did not announce
// is ignored. The hosts file's probes are sent as HealthProbes after every
// Hello (an empty list when there are none) and again when the file changes them.
import { test } from "node:test";
import assert from "node:assert/strict";
import { enroll, TestStream } from "../helpers/grpc-agent.js";
import { startTestController } from "../helpers/in-process-controller.js";
import type { CatalogSnapshot } from "../../src/controller/catalog/types.js";
import type { ControllerConfig } from "../../src/controller/config/schema.js";
import { waitFor } from "../helpers/wait.js";

const HOSTS = `hosts:
  - name: web-1
    address: 127.0.0.2
    services: [{ name: web, namespace: shop, port: 8080 }]
  - name: web-2
    address: 127.0.0.3
    services: [{ name: web, namespace: shop, port: 8080, probe: { type: tcp, periodSeconds: 5 } }]
`;

const unhealthy = (ip: string) => ({ ip, port: 8080, state: "unhealthy", reason: "probe failed: connection refused after 3 tries", since: "2026-12-03T19:00:00.000Z", probe: "tcp connect :8080", source: "agent" });

test("endpoint health over the stream: older agents unchanged, Hello and Health reports count, hosts-file probes sent", async (t) => {
  const ctl = await startTestController(t, { hosts: HOSTS, patch: (c: ControllerConfig) => ({ ...c, driver: "json" }) });
  const ca = await ctl.api<string>("/api/v1/ca");
  const connect = async (ip: string, extra: Record<string, unknown>) => {
    const { token } = await ctl.api<{ token: string }>("/api/v1/tokens", { service: "shop/web", ttl: "10m", uses: 1 });
    const { keyPem, response } = await enroll(ctl.grpcAddress, ca, token);
    const stream = new TestStream(ctl.grpcAddress, ca, keyPem, response.certificatePem);
    t.after(() => stream.close());
    stream.send({ hello: { proxyId: response.proxyId, hostAddresses: [ip], endpoints: [{ ip, port: 8080 }], agentVersion: "test", proxyVersion: "", configVersion: 0, configHash: "", ...extra } });
    await stream.next((m) => m.message === "config");
    return stream;
  };
  const health = async () => Object.fromEntries((await ctl.api<CatalogSnapshot>("/api/v1/catalog")).services.find((s) => s.name === "web")!.endpoints.map((e) => [e.ip, e.health?.state ?? "-"]));

  // An older agent: no endpoint_health field at all, no HealthProbes for it (its host has none in the hosts file).
  const older = await connect("127.0.0.2", {});
  older.send({ health: { proxyState: "running", runningVersion: 1, detail: "" } });
  // A newer agent whose Hello already says unhealthy, and one report about an endpoint it does not front.
  const newer = await connect("127.0.0.3", { endpointHealth: [unhealthy("127.0.0.3"), unhealthy("127.0.0.2")] });
  const probes = await newer.next((m) => m.message === "healthProbes");
  assert.deepEqual(probes.healthProbes?.probes.map((p) => [p.port, p.type, p.periodSeconds, p.failureThreshold]), [[8080, "tcp", 5, 3]]);
  assert.deepEqual(await waitFor(async () => {
    const h = await health();
    return h["127.0.0.3"] === "unhealthy" ? h : undefined;
  }, { what: "newer unhealthy", timeoutMs: 5000 }), { "127.0.0.2": "-", "127.0.0.3": "unhealthy" });
  const none = await older.next((m) => m.message === "healthProbes");
  assert.deepEqual(none.healthProbes?.probes, [], "no probes declared for its host: an empty list (an older agent ignores the message)");

  newer.send({ health: { proxyState: "running", runningVersion: 1, detail: "", endpointHealth: [{ ...unhealthy("127.0.0.3"), state: "healthy", reason: "probe succeeded" }] } });
  await waitFor(async () => (await health())["127.0.0.3"] === "healthy", { what: "newer healthy", timeoutMs: 5000 });
  newer.send({ health: { proxyState: "running", runningVersion: 1, detail: "", endpointHealth: [{ ...unhealthy("127.0.0.3"), state: "bogus" }] } });
  await waitFor(async () => (await health())["127.0.0.3"] === "-", { what: "a malformed entry is dropped: the complete report now has none", timeoutMs: 5000 });

  // A hosts-file edit that changes the probe reaches the connected agent.
  const { writeFile } = await import("node:fs/promises");
  await writeFile(ctl.hostsFile, HOSTS.replace("periodSeconds: 5", "periodSeconds: 7"));
  const again = await newer.next((m) => m.message === "healthProbes" && m.healthProbes?.probes[0]?.periodSeconds === 7, 5000);
  assert.equal(again.healthProbes?.probes.length, 1);
});
