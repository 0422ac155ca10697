import { test } from "node:test";
import assert from "node:assert/strict";
import { backoffDelay } from "../../src/controller/kube/backoff.js";
import { computeEndpoints } from "../../src/controller/providers/kubernetes/endpoints.js";
import { parseEndpointSlice, parsePod, parseService, type PodInfo, type ServiceInfo, type SliceInfo } from "../../src/controller/kube/objects.js";
import { pod, service, slice } from "../fakes/kube-api-objects.js";

const svc = (ports?: Parameters<typeof service>[2]): ServiceInfo => {
  const r = parseService(service("ns", "web", ports));
  assert.ok(r.ok);
  return r.value;
};
const sl = (...args: Parameters<typeof slice>): SliceInfo => {
  const r = parseEndpointSlice(slice(...args));
  assert.ok(r.ok);
  return r.value;
};
const pods = (...list: ReturnType<typeof pod>[]) => {
  const m = new Map<string, PodInfo>();
  for (const p of list) {
    const r = parsePod(p);
    assert.ok(r.ok);
    m.set(r.value.name, r.value);
  }
  return (name: string) => m.get(name);
};
const flat = (s: ServiceInfo, slices: SliceInfo[], lookup = pods()) => computeEndpoints(s, slices, lookup).endpoints.map((e) => `${e.ip}:${e.port}@${e.source}`);

const cases: { name: string; slices: SliceInfo[]; want: string[]; service?: ServiceInfo }[] = [
  { name: "ready true and unset count, false does not", slices: [sl("ns", "s1", "web", [{ addresses: ["10.0.0.1"] }, { addresses: ["10.0.0.2"], ready: null }, { addresses: ["10.0.0.3"], ready: false }])], want: ["10.0.0.1:8080@ns/s1", "10.0.0.2:8080@ns/s1"] },
  { name: "IPv6 lower-cased; addresses of the wrong family dropped", slices: [sl("ns", "v6", "web", [{ addresses: ["FD00::A", "10.0.0.9"] }], [{ name: "http", port: 8080 }], "IPv6")], want: ["fd00::a:8080@ns/v6"] },
  { name: "FQDN slices ignored", slices: [sl("ns", "f", "web", [{ addresses: ["db.example.com"] }], [{ name: "http", port: 8080 }], "FQDN")], want: [] },
  { name: "UDP ports ignored, several TCP ports kept", slices: [sl("ns", "s", "web", [{ addresses: ["10.0.0.1"] }], [{ name: "http", port: 8080 }, { name: "dns", port: 53, protocol: "UDP" }, { name: "admin", port: 9000 }])], want: ["10.0.0.1:8080@ns/s", "10.0.0.1:9000@ns/s"] },
  { name: "same endpoint in two slices keeps both provenances, sorted", slices: [sl("ns", "b", "web", [{ addresses: ["10.0.0.1"] }]), sl("ns", "a", "web", [{ addresses: ["10.0.0.1"] }])], want: ["10.0.0.1:8080@ns/a", "10.0.0.1:8080@ns/b"] },
  { name: "slice port without number: numeric targetPort of the Service port of that name", service: svc([{ name: "http", port: 80, targetPort: 8081 }]), slices: [sl("ns", "s", "web", [{ addresses: ["10.0.0.1"] }], [{ name: "http", port: null }])], want: ["10.0.0.1:8081@ns/s"] },
  { name: "no targetPort means the service port", service: svc([{ name: "http", port: 80 }]), slices: [sl("ns", "s", "web", [{ addresses: ["10.0.0.1"] }], [{ name: "http", port: null }])], want: ["10.0.0.1:80@ns/s"] },
];

for (const c of cases) {
  test(`endpoints: ${c.name}`, () => {
    assert.deepEqual(flat(c.service ?? svc(), c.slices), c.want);
  });
}

test("endpoints: named targetPort resolved per pod; unresolvable pairs counted, dependencies reported", () => {
  const s = svc([{ name: "http", port: 80, targetPort: "web" }]);
  const slices = [sl("ns", "s", "web", [{ addresses: ["10.0.0.1"], pod: "p1" }, { addresses: ["10.0.0.2"], pod: "p2" }, { addresses: ["10.0.0.3"] }], [{ name: "http", port: null }])];
  const result = computeEndpoints(s, slices, pods(pod("ns", "p1", "10.0.0.1", [{ name: "web", containerPort: 7000 }]), pod("ns", "p2", "10.0.0.2", [{ name: "other", containerPort: 1 }])));
  assert.deepEqual(result.endpoints, [{ ip: "10.0.0.1", port: 7000, source: "ns/s", protocol: "http", serviceAccount: "default" }], "the port name http declares http; the pod runs as default");
  assert.equal(result.unresolved, 2);
  assert.deepEqual([...result.pods].sort(), ["p1", "p2"]);
});

test("objects: invalid shapes are refused with the field named", () => {
  const r = parseEndpointSlice({ metadata: { name: "x", namespace: "ns" }, addressType: "IPv4", endpoints: [{ addresses: "10.0.0.1" }] });
  assert.equal(r.ok, false);
  assert.match(!r.ok ? r.message : "", /^endpoints\.0\.addresses:/);
  assert.equal(parseService({ metadata: {} }).ok, false);
});

test("backoff: exponential, jittered within [ceiling/2, ceiling], capped", () => {
  const opts = { initialMs: 100, maxMs: 1000 };
  assert.deepEqual([1, 2, 3, 4, 5, 50].map((n) => backoffDelay(n, opts, () => 1)), [100, 200, 400, 800, 1000, 1000]);
  assert.deepEqual([1, 2, 5].map((n) => backoffDelay(n, opts, () => 0)), [50, 100, 500]);
  assert.equal(backoffDelay(0, opts, () => 1), 100);
});
