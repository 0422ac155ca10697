// Where each platform declares a port's protocol and a workload's account,
// one table per source (issue 15 items 1 and 4): Kubernetes appProtocol and
// port names, pods' ServiceAccounts, the hosts file, Azure tags, the agent's
// --endpoint flag and config, and its Hello at the controller's edge.
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseAgentConfig } from "../../src/agent/config.js";
import { splitProtocolSuffix } from "../../src/common/declared-protocol.js";
import { MeshfedError } from "../../src/common/errors.js";
import { mapInstance } from "../../src/controller/providers/azure/mapping.js";
import { kubernetesPortProtocol } from "../../src/controller/providers/kubernetes/app-protocol.js";
import { computeEndpoints } from "../../src/controller/providers/kubernetes/endpoints.js";
import { parseEndpointSlice, parsePod, parseService, type PodInfo } from "../../src/controller/kube/objects.js";
import { parseHostsFile } from "../../src/controller/providers/onprem/hosts-file.js";
import { validateHello } from "../../src/controller/proxy-control-plane/hello.js";
import { pod, slice } from "../fakes/kube-api-objects.js";

const kubernetesCases: Array<[appProtocol: string | undefined, portName: string, want: string | undefined]> = [
  ["http", "web", "http"],
  ["HTTP", "", "http"],
  ["http2", "web", "http2"],
  ["h2c", "web", "http2"],
  ["kubernetes.io/h2c", "web", "http2"],
  ["grpc", "web", "grpc"],
  ["tcp", "web", "tcp"],
  // appProtocol wins over the name
  ["tcp", "grpc-api", "tcp"],
  // an appProtocol we do not know lets the name speak (Istio's rule)
  ["kubernetes.io/ws", "grpc-api", "grpc"],
  ["https", "web", undefined],
  [undefined, "http", "http"],
  [undefined, "http-web", "http"],
  [undefined, "http2-web", "http2"],
  [undefined, "http2", "http2"],
  [undefined, "grpc", "grpc"],
  [undefined, "grpc-orders", "grpc"],
  [undefined, "tcp-mysql", "tcp"],
  [undefined, "TCP-mysql", "tcp"],
  [undefined, "httpx", undefined],
  [undefined, "mysql", undefined],
  [undefined, "", undefined],
];

for (const [appProtocol, name, want] of kubernetesCases) {
  test(`kubernetes: appProtocol ${String(appProtocol)}, port name "${name}" -> ${String(want)}`, () => {
    assert.equal(kubernetesPortProtocol(appProtocol, name), want);
  });
}

test("kubernetes: endpoints carry the slice's, else the Service port's appProtocol, and the pod's ServiceAccount", () => {
  const service = parseService({
    metadata: { name: "orders", namespace: "shop" },
    spec: { selector: { app: "orders" }, ports: [{ name: "api", port: 80, appProtocol: "grpc" }, { name: "tcp-db", port: 3306 }, { name: "web", port: 8080 }] },
  });
  assert.ok(service.ok);
  const raw = slice("shop", "orders-1", "orders", [{ addresses: ["10.0.0.1"], pod: "orders-a" }, { addresses: ["10.0.0.2"], pod: "orders-b" }, { addresses: ["10.0.0.3"] }],
    [{ name: "api", port: 9000 }, { name: "tcp-db", port: 3306 }, { name: "web", port: 8080 }]);
  // The EndpointSlice controller copies appProtocol; here only for "web", which the Service port does not declare.
  (raw as unknown as { ports: Array<Record<string, unknown>> }).ports[2]!.appProtocol = "h2c";
  const sl = parseEndpointSlice(raw);
  assert.ok(sl.ok);
  const pods = new Map<string, PodInfo>();
  for (const p of [pod("shop", "orders-a", "10.0.0.1", [], "orders"), pod("shop", "orders-b", "10.0.0.2", [], "orders-batch")]) {
    const r = parsePod(p);
    assert.ok(r.ok);
    pods.set(r.value.name, r.value);
  }
  const result = computeEndpoints(service.value, [sl.value], (name) => pods.get(name));
  const rows = result.endpoints.map((e) => `${e.ip}:${e.port} ${e.protocol ?? "-"} ${e.serviceAccount ?? "-"}`);
  assert.deepEqual(rows, [
    "10.0.0.1:3306 tcp orders",
    "10.0.0.1:8080 http2 orders",
    "10.0.0.1:9000 grpc orders",
    "10.0.0.2:3306 tcp orders-batch",
    "10.0.0.2:8080 http2 orders-batch",
    "10.0.0.2:9000 grpc orders-batch",
    // no targetRef: no account declared (the catalog uses the service's name)
    "10.0.0.3:3306 tcp -",
    "10.0.0.3:8080 http2 -",
    "10.0.0.3:9000 grpc -",
  ]);
  assert.deepEqual([...result.pods].sort(), ["orders-a", "orders-b"], "every pod consulted is a dependency: its account can change the result");
});

const hostsCases: Array<{ name: string; service: string; code?: string; want?: { protocol?: string; serviceAccount?: string } }> = [
  { name: "nothing declared", service: "{ name: web, namespace: shop, port: 80 }", want: {} },
  { name: "grpc", service: "{ name: web, namespace: shop, port: 80, protocol: grpc }", want: { protocol: "grpc" } },
  { name: "tcp and an account", service: "{ name: db, namespace: shop, port: 3306, protocol: tcp, serviceAccount: mysql }", want: { protocol: "tcp", serviceAccount: "mysql" } },
  { name: "a dotted account (DNS-1123 subdomain)", service: "{ name: web, namespace: shop, port: 80, serviceAccount: web.v2 }", want: { serviceAccount: "web.v2" } },
  { name: "an unknown protocol", service: "{ name: web, namespace: shop, port: 80, protocol: HTTP }", code: "MESHFED_HOSTS_INVALID_PROTOCOL" },
  { name: "h2c is a Kubernetes spelling, not ours", service: "{ name: web, namespace: shop, port: 80, protocol: h2c }", code: "MESHFED_HOSTS_INVALID_PROTOCOL" },
  { name: "an account with capitals", service: "{ name: web, namespace: shop, port: 80, serviceAccount: Web }", code: "MESHFED_HOSTS_INVALID_SERVICE_ACCOUNT" },
  { name: "an account with a slash", service: "{ name: web, namespace: shop, port: 80, serviceAccount: shop/web }", code: "MESHFED_HOSTS_INVALID_SERVICE_ACCOUNT" },
];

for (const c of hostsCases) {
  test(`hosts file: ${c.name}`, () => {
    const text = `hosts:\n  - name: h1\n    address: 10.0.0.1\n    services:\n      - ${c.service}\n`;
    if (c.code !== undefined) {
      assert.throws(() => parseHostsFile(text, "hosts.yaml"), (err: unknown) => {
        assert.ok(err instanceof MeshfedError);
        assert.equal(err.code, c.code);
        assert.equal(err.details.line, 5, "the error points at the service's line");
        return true;
      });
      return;
    }
    const svc = parseHostsFile(text, "hosts.yaml").hosts[0]!.services[0]!;
    assert.deepEqual({ ...(svc.protocol ? { protocol: svc.protocol } : {}), ...(svc.serviceAccount ? { serviceAccount: svc.serviceAccount } : {}) }, c.want);
  });
}

const azureCases: Array<{ name: string; tags: Record<string, string>; want: string }> = [
  { name: "old values keep their meaning", tags: { "meshfed-service": "web", "meshfed-ports": "80,8080" }, want: "mapped web 80,8080 {} -" },
  { name: "a protocol per port", tags: { "meshfed-service": "db", "meshfed-ports": "14001/grpc, 3306/tcp,80" }, want: "mapped db 80,3306,14001 {\"3306\":\"tcp\",\"14001\":\"grpc\"} -" },
  { name: "an account tag", tags: { "meshfed-service": "web", "meshfed-ports": "80", "meshfed-service-account": "frontend" }, want: "mapped web 80 {} frontend" },
  { name: "an unknown protocol is a bad tag", tags: { "meshfed-service": "web", "meshfed-ports": "80/quic" }, want: "bad" },
  { name: "one port, two protocols is a bad tag", tags: { "meshfed-service": "web", "meshfed-ports": "80/grpc,80/tcp" }, want: "bad" },
  { name: "a bad account is a bad tag", tags: { "meshfed-service": "web", "meshfed-ports": "80", "meshfed-service-account": "Front_End" }, want: "bad" },
];

for (const c of azureCases) {
  test(`azure tags: ${c.name}`, () => {
    const m = mapInstance({ resourceGroup: "rg", tags: c.tags }, "meshfed-", []);
    const got = m.kind === "mapped" ? `mapped ${m.service.name} ${m.ports.join(",")} ${JSON.stringify(m.protocols ?? {})} ${m.serviceAccount ?? "-"}` : m.kind;
    assert.equal(got, c.want);
  });
}

test("azure: the account tag names the identity of instances a config rule maps", () => {
  const m = mapInstance({ resourceGroup: "rg", tags: { "meshfed-service-account": "batch" } }, "meshfed-", [{ resourceGroup: "rg", namespace: "shop", service: "jobs", ports: [9000] }]);
  assert.equal(m.kind, "mapped");
  assert.equal(m.kind === "mapped" ? m.serviceAccount : undefined, "batch");
});

test("agent: --endpoint IP:PORT[/PROTOCOL] in the config file; a bad protocol is a named config error", () => {
  const config = parseAgentConfig("controller: c:15128\ncaFile: ca.pem\nendpoints: [\"10.0.0.5:8080\", \"10.0.0.5:14001/grpc\", \"[fd00::1]:3306/tcp\"]\n", "/etc/meshfed/agent.yaml");
  assert.deepEqual(config.endpoints.map((e) => splitProtocolSuffix(e)), [
    { address: "10.0.0.5:8080" },
    { address: "10.0.0.5:14001", protocol: "grpc" },
    { address: "[fd00::1]:3306", protocol: "tcp" },
  ]);
  for (const bad of ["10.0.0.5:14001/grcp", "10.0.0.5/grpc", "10.0.0.5:14001/"]) {
    assert.throws(() => parseAgentConfig(`controller: c:15128\ncaFile: ca.pem\nendpoints: ["${bad}"]\n`, "/etc/meshfed/agent.yaml"),
      (err: unknown) => err instanceof MeshfedError && err.code === "MESHFED_AGENT_CONFIG_INVALID", bad);
  }
});

test("Hello: a declared protocol passes the edge, an unknown one is MESHFED_HELLO_INVALID", () => {
  const PROXY = "0b6f0e58-6a0c-4f47-9b8f-3c1c2f1e9a01";
  const hello = (protocol: string) => ({
    proxyId: PROXY, hostAddresses: ["10.0.0.5"], endpoints: [{ ip: "10.0.0.5", port: 14001, protocol }, { ip: "10.0.0.5", port: 8080, protocol: "" }],
    agentVersion: "1", proxyVersion: "", configVersion: 0, configHash: "", dns: null, capture: null, endpointHealth: [], fileCache: null,
  });
  const ctx = { proxyId: PROXY, service: "shop/web", ownersOf: () => [] };
  assert.deepEqual(validateHello(hello("grpc"), ctx).endpoints, [{ ip: "10.0.0.5", port: 14001, protocol: "grpc" }, { ip: "10.0.0.5", port: 8080 }]);
  assert.throws(() => validateHello(hello("websocket"), ctx), (err: unknown) => err instanceof MeshfedError && err.code === "MESHFED_HELLO_INVALID");
});
