// Property tests for what arrives from the network and from platform APIs:
// an agent's Hello, a config version as the agent receives it, Kubernetes
// objects, MeshConfig data and objects with missing or odd fields, Azure tags. Each
// parser returns a value or a named refusal; none throws anything else, and
// whatever it accepts obeys the rules it exists to enforce.
import { test } from "node:test";
import assert from "node:assert/strict";
import { isIP } from "node:net";
import fc from "fast-check";
import { CONFIG_INVALID as CONFIG_VERSION_INVALID, checkConfigVersion, type ConfigVersionData } from "../../src/agent/config-version.js";
import { HELLO_ERRORS, validateHello } from "../../src/controller/proxy-control-plane/hello.js";
import { computeEndpoints } from "../../src/controller/providers/kubernetes/endpoints.js";
import { parseEndpointSlice, parseNamespace, parsePod, parseService } from "../../src/controller/kube/objects.js";
import { parseMeshConfigData } from "../../src/controller/spec/kubernetes/mesh-config.js";
import { parseMeshConfigObject } from "../../src/controller/spec/kubernetes/mesh-config-crd.js";
import { mapInstance, parsePorts } from "../../src/controller/providers/azure/mapping.js";
import type { Hello__Output } from "../../src/generated/proto/meshfed/v1/Hello.js";
import { corruptedValuesOf, parsesOrNamedError, RUNS } from "../helpers/hostile-input.js";

const PROXY_ID = "6f1c2a9e-3b7d-4c1e-9a55-0d2b8c7e4f10";
const VALID_HELLO = {
  proxyId: PROXY_ID, hostAddresses: ["10.0.0.5", "fd00::5"], endpoints: [{ ip: "10.0.0.5", port: 8080 }, { ip: "FD00::5", port: 8443 }],
  agentVersion: "1.0.0", proxyVersion: "1.5.18", configVersion: 3, configHash: "a".repeat(64),
};

const ipText = fc.oneof(fc.ipV4(), fc.ipV6(), fc.constantFrom("10.0.0.5", "fd00::5", "FD00::5", "10.0.0.6", "::ffff:10.0.0.5"), fc.string({ maxLength: 20 }));
const helloLike = fc.record({
  proxyId: fc.oneof(fc.constant(PROXY_ID), fc.uuid(), fc.string({ maxLength: 40 })),
  hostAddresses: fc.array(ipText, { maxLength: 70 }),
  endpoints: fc.array(fc.record({ ip: ipText, port: fc.oneof(fc.integer({ min: -1, max: 70_000 }), fc.double()) }), { maxLength: 260 }),
  agentVersion: fc.string({ maxLength: 80 }),
  proxyVersion: fc.string({ maxLength: 80 }),
  configVersion: fc.oneof(fc.nat(), fc.integer(), fc.double()),
  configHash: fc.oneof(fc.constant(""), fc.string({ unit: fc.constantFrom(..."0123456789abcdef"), minLength: 64, maxLength: 64 }), fc.string({ maxLength: 70 })),
});

test("Hello: arbitrary and corrupted Hellos are accepted only when every endpoint is on the proxy's own addresses and of no other service", () => {
  // 10.0.0.5:9000 belongs to another service through a non-agent provider.
  const ownersOf = (ip: string, port: number) => (ip === "10.0.0.5" && port === 9000 ? ["shop/db"] : []);
  fc.assert(
    fc.property(fc.oneof(helloLike, corruptedValuesOf(VALID_HELLO), fc.anything()), (hello) => {
      parsesOrNamedError(() => {
        const valid = validateHello(hello as Hello__Output, { proxyId: PROXY_ID, service: "shop/web", ownersOf });
        assert.equal(valid.proxyId, PROXY_ID);
        const own = new Set(valid.hostAddresses);
        for (const e of valid.endpoints) {
          assert.ok(own.has(e.ip), `${e.ip} is not announced`);
          assert.ok(Number.isInteger(e.port) && e.port >= 1 && e.port <= 65535);
          assert.ok(!(e.ip === "10.0.0.5" && e.port === 9000), "another service's endpoint accepted");
        }
      }, Object.values(HELLO_ERRORS));
    }),
    { numRuns: RUNS },
  );
});

const fileLike = fc.record({ path: fc.oneof(fc.constantFrom("/main.js", "/config.json", "/../etc/passwd", "/a/./b", "//x", "/x\u0000"), fc.string({ maxLength: 30 })), content: fc.uint8Array({ maxLength: 32 }).map((b) => Buffer.from(b)) });
const configLike: fc.Arbitrary<ConfigVersionData> = fc.record({
  version: fc.oneof(fc.nat(), fc.integer(), fc.double(), fc.constant(Number.MAX_SAFE_INTEGER + 2)),
  driver: fc.string({ maxLength: 10 }),
  hash: fc.string({ maxLength: 140 }),
  files: fc.array(fileLike, { maxLength: 6 }),
});

test("config version (agent side): only safe paths and sane versions are accepted", () => {
  fc.assert(
    fc.property(configLike, (c) => {
      parsesOrNamedError(() => {
        checkConfigVersion(c);
        assert.ok(Number.isSafeInteger(c.version) && c.version >= 1);
        for (const f of c.files) {
          assert.ok(f.path.startsWith("/") && !f.path.split("/").includes(".."), f.path);
          assert.ok(!f.path.includes("\u0000"));
        }
      }, [CONFIG_VERSION_INVALID]);
    }),
    { numRuns: RUNS },
  );
});

const SERVICE = { metadata: { name: "web", namespace: "shop" }, spec: { ports: [{ name: "http", port: 80, targetPort: "http", protocol: "TCP" }] } };
const SLICE = {
  metadata: { name: "web-abc", namespace: "shop", labels: { "kubernetes.io/service-name": "web" } },
  addressType: "IPv4",
  endpoints: [{ addresses: ["10.1.0.1"], conditions: { ready: true }, targetRef: { kind: "Pod", name: "web-1", namespace: "shop" } }],
  ports: [{ name: "http", protocol: "TCP" }],
};
const POD = {
  metadata: { name: "web-1", namespace: "shop" },
  spec: { serviceAccountName: "web", containers: [{ ports: [{ name: "http", containerPort: 8080, protocol: "TCP" }] }] },
  status: { podIP: "10.1.0.1", podIPs: [{ ip: "10.1.0.1" }] },
};

test("Kubernetes objects with missing or odd fields are parsed or refused, never thrown; endpoints computed from them are well-formed", () => {
  const odd = (valid: unknown) => fc.oneof(corruptedValuesOf(valid), fc.anything({ maxDepth: 3 }));
  fc.assert(
    fc.property(odd(SERVICE), odd(SLICE), odd(POD), odd({ metadata: { name: "shop", labels: { a: "b" } } }), (svc, slice, pod, ns) => {
      const parsed = { svc: parseService(svc), slice: parseEndpointSlice(slice), pod: parsePod(pod), ns: parseNamespace(ns) };
      for (const r of Object.values(parsed)) if (!r.ok) assert.equal(typeof r.message, "string");
      if (parsed.pod.ok) for (const ip of parsed.pod.value.ips) assert.notEqual(isIP(ip), 0);
      if (!parsed.svc.ok || !parsed.slice.ok) return;
      const podInfo = parsed.pod.ok ? parsed.pod.value : undefined;
      const result = computeEndpoints(parsed.svc.value, [parsed.slice.value], (name) => (podInfo?.name === name ? podInfo : undefined));
      for (const e of result.endpoints) {
        assert.notEqual(isIP(e.ip), 0, e.ip);
        assert.ok(Number.isInteger(e.port) && e.port >= 1 && e.port <= 65535, String(e.port));
      }
    }),
    { numRuns: RUNS },
  );
});

test("MeshConfig data: any keys and values give settings within bounds or a list of problems", () => {
  const defaults = { permissive: false, proxyValidityMs: 3_600_000, serviceValidityMs: 3_600_000, serviceJitterMs: 60_000 };
  const key = fc.oneof(fc.constantFrom("mesh.permissive", "certificates.proxyValidity", "certificates.serviceValidity", "certificates.serviceJitter", "__proto__", "constructor"), fc.string({ maxLength: 20 }));
  const value = fc.oneof(fc.constantFrom("true", "FALSE", "1h", "0s", "-5m", "99999999999999h", "1e3h", " 30m "), fc.string({ maxLength: 12 }));
  fc.assert(
    fc.property(fc.dictionary(key, value, { maxKeys: 6 }), (data) => {
      const r = parseMeshConfigData(data, defaults);
      if (!r.ok) {
        assert.ok(r.problems.length > 0);
        return;
      }
      const s = r.settings;
      assert.equal(typeof s.permissive, "boolean");
      assert.ok(Number.isFinite(s.proxyValidityMs) && s.proxyValidityMs >= 60_000);
      assert.ok(Number.isFinite(s.serviceValidityMs) && s.serviceValidityMs >= 60_000);
      assert.ok(s.serviceJitterMs >= 0 && s.serviceJitterMs < s.serviceValidityMs);
    }),
    { numRuns: RUNS },
  );
});

test("MeshConfig objects: any spec gives a layer within bounds with notes, or problems that name a spec path", () => {
  const scalar = fc.oneof(fc.boolean(), fc.constantFrom("24h", "1h30m", "30s", "0s", "soon", "", "-1h"), fc.integer(), fc.constant(null));
  const section = fc.dictionary(fc.oneof(fc.constantFrom("enablePermissiveTrafficPolicyMode", "enableEgress", "serviceCertValidityDuration", "certKeyBitSize", "__proto__"), fc.string({ maxLength: 8 })), fc.oneof(scalar, fc.array(scalar, { maxLength: 2 })), { maxKeys: 4 });
  const spec = fc.oneof(fc.dictionary(fc.constantFrom("traffic", "certificate", "sidecar", "featureFlags"), fc.oneof(section, scalar), { maxKeys: 4 }), scalar);
  fc.assert(
    fc.property(fc.option(spec, { nil: undefined }), (s) => {
      const r = parseMeshConfigObject({ apiVersion: "config.openservicemesh.io/v1alpha2", kind: "MeshConfig", metadata: { name: "m" }, ...(s === undefined ? {} : { spec: s }) });
      if (!r.ok) {
        assert.ok(r.problems.length > 0 && r.problems.every((p) => p.startsWith("spec")), r.problems.join("; "));
        return;
      }
      for (const k of ["permissive", "outboundPassthrough"] as const) assert.ok(r.layer[k] === undefined || typeof r.layer[k] === "boolean");
      assert.ok(r.layer.serviceValidityMs === undefined || (Number.isFinite(r.layer.serviceValidityMs) && r.layer.serviceValidityMs >= 60_000));
      assert.deepEqual(Object.keys(r.layer).filter((k) => !["permissive", "outboundPassthrough", "serviceValidityMs"].includes(k)), []);
      assert.ok(r.notes.every((n) => n.code === "MESHFED_MESHCONFIG_NOT_ENFORCED" && n.path.startsWith("spec.")));
    }),
    { numRuns: RUNS },
  );
});

test("Azure tags: any tag names and values map to a well-formed service, a named bad tag, or nothing", () => {
  const tagName = fc.oneof(fc.constantFrom("meshfed-service", "MESHFED-Service", "meshfed-namespace", "meshfed-ports", "__proto__"), fc.string({ maxLength: 16 }));
  const tagValue = fc.oneof(fc.constantFrom("web", "Web", "80", "80,443", " 80 , 80 ", "0", "65536", "1e3", "-1", "", "a/b"), fc.string({ maxLength: 16 }));
  const tags = fc.option(fc.dictionary(tagName, tagValue, { maxKeys: 5 }), { nil: undefined });
  fc.assert(
    fc.property(tags, tags, fc.string({ maxLength: 12 }), (own, scaleSet, rg) => {
      const m = mapInstance({ resourceGroup: rg, scaleSet: "ss", tags: own, scaleSetTags: scaleSet }, "meshfed-", []);
      if (m.kind === "bad") assert.ok(m.message.length > 0);
      if (m.kind !== "mapped") return;
      assert.match(m.service.name, /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
      assert.match(m.service.namespace, /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
      assert.ok(m.ports.length > 0 && m.ports.every((p) => Number.isInteger(p) && p >= 1 && p <= 65535));
    }),
    { numRuns: RUNS },
  );
  fc.assert(fc.property(fc.string({ maxLength: 30 }), (text) => {
    const ports = parsePorts(text);
    if (ports) assert.ok(ports.every((p) => p >= 1 && p <= 65535));
  }), { numRuns: RUNS });
});
