// osm-edge's policy kinds through the one parser the file store, the CRD
// store and `meshfed validate` share: normalised values per kind, and every
// named error, positioned at the offending line for files and at the field
// path for custom resources.
import { test } from "node:test";
import assert from "node:assert/strict";
import { normaliseSmiObject, parseSmiManifests, type SmiObject } from "../../src/controller/spec/smi-parse.js";
import { POLICY_ERROR_CODES as C } from "../../src/controller/spec/policy-parse.js";

const API = "policy.openservicemesh.io/v1alpha1";
const doc = (kind: string, spec: string, meta = "  name: x\n  namespace: ns\n") => `apiVersion: ${API}\nkind: ${kind}\nmetadata:\n${meta}spec:\n${spec}`;

function only(text: string, options = {}): SmiObject {
  const r = parseSmiManifests(text, "p.yaml", options);
  assert.deepEqual(r.errors.map((e) => e.message), []);
  assert.equal(r.objects.length, 1);
  return r.objects[0]!;
}

test("Egress: sources default to the object's namespace, hosts lower-cased, CIDRs normalised, protocols lower-cased", () => {
  const o = only(doc("Egress", [
    "  sources: [{ kind: ServiceAccount, name: curl }, { kind: ServiceAccount, name: app, namespace: other }]",
    "  hosts: [HTTPBIN.org, '*.example.com']",
    "  ipAddresses: [10.1.2.3/8, 192.168.0.7, '2001:DB8:0:0:1::/32', '::ffff:10.0.0.1/120']",
    "  ports: [{ number: 80, protocol: HTTP }, { number: 443, protocol: https }]",
    "  matches: [{ apiGroup: specs.smi-spec.io/v1alpha4, kind: HTTPRouteGroup, name: get }]",
    "",
  ].join("\n")));
  assert.equal(o.kind, "Egress");
  assert.deepEqual(o.kind === "Egress" ? { ...o.object, origin: undefined } : undefined, {
    namespace: "ns", name: "x", origin: undefined,
    sources: [{ kind: "ServiceAccount", name: "curl", namespace: "ns" }, { kind: "ServiceAccount", name: "app", namespace: "other" }],
    hosts: ["httpbin.org", "*.example.com"],
    ipAddresses: ["10.0.0.0/8", "192.168.0.7/32", "2001:db8::/32", "::ffff:a00:0/120"],
    ports: [{ number: 80, protocol: "http" }, { number: 443, protocol: "https" }],
    matches: [{ apiGroup: "specs.smi-spec.io/v1alpha4", kind: "HTTPRouteGroup", name: "get" }],
  });
});

test("IngressBackend: the three source kinds, TLS settings, protocol lower-cased", () => {
  const o = only(doc("IngressBackend", [
    "  backends:",
    "  - name: web",
    "    port: { number: 8443, protocol: HTTPS }",
    "    tls: { skipClientCertValidation: false, sniHosts: [Web.example.com] }",
    "  sources:",
    "  - { kind: Service, name: ingress-nginx-controller, namespace: ingress-nginx }",
    "  - { kind: AuthenticatedPrincipal, name: Ingress.Ingress.cluster.local }",
    "  - { kind: IPRange, name: 10.0.0.9/24 }",
    "",
  ].join("\n")));
  assert.equal(o.kind, "IngressBackend");
  if (o.kind !== "IngressBackend") return;
  assert.deepEqual(o.object.backends, [{ name: "web", port: { number: 8443, protocol: "https" }, tls: { skipClientCertValidation: false, sniHosts: ["web.example.com"] } }]);
  assert.deepEqual(o.object.sources, [
    { kind: "Service", namespace: "ingress-nginx", name: "ingress-nginx-controller" },
    { kind: "AuthenticatedPrincipal", name: "ingress.ingress.cluster.local" },
    { kind: "IPRange", name: "10.0.0.0/24" },
  ]);
  assert.deepEqual(o.object.matches, []);
});

test("UpstreamTrafficSetting: durations to ms, requests/connections to amount, host parsed into a service", () => {
  const o = only(doc("UpstreamTrafficSetting", [
    "  host: Bookstore.shop.svc.cluster.local",
    "  connectionSettings:",
    "    tcp: { maxConnections: 10, connectTimeout: 1m30s }",
    "    http:",
    "      maxRequests: 5",
    "      requestTimeout: 2.5s",
    "      circuitBreaking: { statTimeWindow: 1m, minRequestAmount: 3, degradedTimeWindow: 500ms, slowTimeThreshold: 100us, errorRatioThreshold: 0.5, degradedStatusCode: 503 }",
    "  rateLimit:",
    "    local:",
    "      tcp: { connections: 6, unit: minute }",
    "      http: { requests: 8, unit: second, burst: 2, responseStatusCode: 503, responseHeadersToAdd: [{ name: x-limited, value: 'yes' }] }",
    "  httpRoutes:",
    "  - path: /books.*",
    "    rateLimit: { local: { requests: 1, unit: hour } }",
    "  - path: /other",
    "",
  ].join("\n"), "  name: x\n  namespace: shop\n"));
  assert.equal(o.kind, "UpstreamTrafficSetting");
  if (o.kind !== "UpstreamTrafficSetting") return;
  const u = o.object;
  assert.equal(u.host, "Bookstore.shop.svc.cluster.local", "the raw host is kept");
  assert.deepEqual(u.service, { namespace: "shop", name: "bookstore" });
  assert.deepEqual(u.tcp, { maxConnections: 10, connectTimeoutMs: 90_000 });
  assert.deepEqual(u.http, {
    maxRequests: 5, requestTimeoutMs: 2500,
    circuitBreaking: { statTimeWindowMs: 60_000, minRequestAmount: 3, degradedTimeWindowMs: 500, slowTimeThresholdMs: 0.1, errorRatioThreshold: 0.5, degradedStatusCode: 503 },
  });
  assert.deepEqual(u.rateLimit, {
    tcp: { amount: 6, unit: "minute", burst: 0 },
    http: { amount: 8, unit: "second", burst: 2, responseStatusCode: 503, responseHeadersToAdd: [{ name: "x-limited", value: "yes" }] },
  });
  assert.deepEqual(u.httpRoutes, [{ path: "/books.*", rateLimit: { amount: 1, unit: "hour", burst: 0, responseHeadersToAdd: [] } }, { path: "/other" }]);
});

test("UpstreamTrafficSetting hosts: which name a mesh service and which are egress hosts", () => {
  const cases: [string, string | undefined, string | undefined][] = [
    ["web.ns.svc.cluster.local", undefined, "ns/web"],
    ["web.ns.svc", undefined, "ns/web"],
    ["web.ns.svc.mesh.example", "mesh.example", "ns/web"],
    ["web.ns.svc.mesh.example", undefined, undefined],
    // Two labels are a real domain (osm-edge's own egress examples use httpbin.org).
    ["httpbin.ns", undefined, undefined],
    ["httpbin.org", undefined, undefined],
  ];
  for (const [host, trustDomain, want] of cases) {
    const o = only(doc("UpstreamTrafficSetting", `  host: ${host}\n`), trustDomain === undefined ? {} : { trustDomain });
    const u = o.kind === "UpstreamTrafficSetting" ? o.object : undefined;
    assert.equal(u?.service === undefined ? undefined : `${u.service.namespace}/${u.service.name}`, want, `${host} (${trustDomain ?? "default"})`);
  }
});

test("Retry: retryOn split on commas, durations to ms, destinations default to the object's namespace", () => {
  const o = only(doc("Retry", [
    "  source: { kind: ServiceAccount, name: client, namespace: client }",
    "  destinations: [{ kind: Service, name: server, namespace: server }, { kind: Service, name: local }]",
    "  retryPolicy: { retryOn: ' 5xx, gateway-error,503,5xx', perTryTimeout: 250ms, numRetries: 3, retryBackoffBaseInterval: 1s }",
    "",
  ].join("\n")));
  assert.equal(o.kind, "Retry");
  if (o.kind !== "Retry") return;
  assert.deepEqual(o.object.source, { kind: "ServiceAccount", name: "client", namespace: "client" });
  assert.deepEqual(o.object.destinations, [{ kind: "Service", name: "server", namespace: "server" }, { kind: "Service", name: "local", namespace: "ns" }]);
  assert.deepEqual(o.object.retryPolicy, { retryOn: ["5xx", "gateway-error", "503"], numRetries: 3, perTryTimeoutMs: 250, retryBackoffBaseIntervalMs: 1000 });
  // Only retryOn is required: the rest stays undefined for the renderer's defaults.
  const short = only(doc("Retry", "  source: { kind: ServiceAccount, name: c }\n  destinations: [{ kind: Service, name: s }]\n  retryPolicy: { retryOn: reset }\n"));
  assert.deepEqual(short.kind === "Retry" ? short.object.retryPolicy : undefined, { retryOn: ["reset"] });
});

// Every named error, with the line it must point at (line 7 is the first spec line).
const errorCases: { what: string; kind: string; spec: string; code: string; line: number; message: RegExp }[] = [
  { what: "an unknown field", kind: "Egress", spec: "  sources: []\n  portz: []\n", code: C.invalid, line: 8, message: /unknown field "portz"/ },
  { what: "a duration that is not Go's", kind: "Retry", spec: "  source: { kind: ServiceAccount, name: c }\n  destinations: [{ kind: Service, name: s }]\n  retryPolicy:\n    retryOn: 5xx\n    perTryTimeout: 1d\n", code: C.invalidDuration, line: 11, message: /"1d" is not a duration/ },
  { what: "a negative duration", kind: "UpstreamTrafficSetting", spec: "  host: a.b.svc\n  connectionSettings:\n    tcp:\n      connectTimeout: -1s\n", code: C.invalidDuration, line: 10, message: /"-1s"/ },
  { what: "an IP range that is none", kind: "Egress", spec: "  sources: [{ kind: ServiceAccount, name: a }]\n  ipAddresses:\n  - 10.0.0.0/33\n  ports: [{ number: 1, protocol: tcp }]\n", code: C.invalidCidr, line: 9, message: /"10\.0\.0\.0\/33" is not an IP range/ },
  { what: "an egress host that is no DNS name", kind: "Egress", spec: "  sources: [{ kind: ServiceAccount, name: a }]\n  hosts: [\"bad host\"]\n  ports: [{ number: 1, protocol: tcp }]\n", code: C.invalidHost, line: 8, message: /host "bad host"/ },
  { what: "a one-label upstream host", kind: "UpstreamTrafficSetting", spec: "  host: bookstore\n", code: C.invalidHost, line: 7, message: /at least two labels/ },
  { what: "a service host in another namespace", kind: "UpstreamTrafficSetting", spec: "  host: web.other.svc.cluster.local\n", code: C.invalidHost, line: 7, message: /must be in namespace other/ },
  { what: "an unknown protocol", kind: "Egress", spec: "  sources: [{ kind: ServiceAccount, name: a }]\n  ports:\n  - number: 80\n    protocol: udp\n", code: C.invalidProtocol, line: 10, message: /protocol "udp"/ },
  { what: "tcp on an IngressBackend (osm-edge allows http, https, grpc)", kind: "IngressBackend", spec: "  backends: [{ name: b, port: { number: 80, protocol: tcp } }]\n  sources: [{ kind: IPRange, name: 10.0.0.0/8 }]\n", code: C.invalidProtocol, line: 7, message: /protocol "tcp" is not one of http, https, grpc/ },
  { what: "a port out of range", kind: "Egress", spec: "  sources: [{ kind: ServiceAccount, name: a }]\n  ports: [{ number: 0, protocol: tcp }]\n", code: C.invalidPort, line: 8, message: /port 0/ },
  { what: "an Egress without ports", kind: "Egress", spec: "  sources: [{ kind: ServiceAccount, name: a }]\n", code: C.invalidPort, line: 7, message: /at least one port/ },
  { what: "a backend without a port", kind: "IngressBackend", spec: "  backends:\n  - name: web\n  sources: [{ kind: IPRange, name: 10.0.0.0/8 }]\n", code: C.backendPort, line: 8, message: /backend "web" has no port/ },
  { what: "a Retry without destinations", kind: "Retry", spec: "  source: { kind: ServiceAccount, name: c }\n  destinations: []\n  retryPolicy: { retryOn: 5xx }\n", code: C.noDestinations, line: 8, message: /at least one destination/ },
  { what: "an unknown retry condition", kind: "Retry", spec: "  source: { kind: ServiceAccount, name: c }\n  destinations: [{ kind: Service, name: s }]\n  retryPolicy: { retryOn: \"5xx,sometimes\" }\n", code: C.invalidRetryOn, line: 9, message: /"sometimes"/ },
  { what: "a rate-limit unit", kind: "UpstreamTrafficSetting", spec: "  host: a.b.svc\n  rateLimit:\n    local:\n      http: { requests: 1, unit: day }\n", code: C.invalidRateLimit, line: 10, message: /unit "day"/ },
  { what: "a refused-request status out of range", kind: "UpstreamTrafficSetting", spec: "  host: a.b.svc\n  rateLimit:\n    local:\n      http:\n        requests: 1\n        unit: second\n        responseStatusCode: 200\n", code: C.invalidRateLimit, line: 13, message: /responseStatusCode 200/ },
  { what: "a route path that is no regex", kind: "UpstreamTrafficSetting", spec: "  host: a.b.svc\n  httpRoutes:\n  - path: \"(\"\n", code: C.invalidRegex, line: 9, message: /path "\(" is not a regular expression/ },
  { what: "an ingress source kind", kind: "IngressBackend", spec: "  backends: [{ name: b, port: { number: 80, protocol: http } }]\n  sources:\n  - { kind: Pod, name: p }\n", code: C.invalidSource, line: 9, message: /source kind "Pod"/ },
  { what: "a Service source without namespace", kind: "IngressBackend", spec: "  backends: [{ name: b, port: { number: 80, protocol: http } }]\n  sources:\n  - { kind: Service, name: ingress }\n", code: C.invalidSource, line: 9, message: /needs a namespace/ },
  { what: "a match of another kind", kind: "Egress", spec: "  sources: [{ kind: ServiceAccount, name: a }]\n  ports: [{ number: 80, protocol: http }]\n  matches:\n  - { apiGroup: specs.smi-spec.io/v1alpha4, kind: TCPRoute, name: t }\n", code: C.invalidMatch, line: 10, message: /match kind "TCPRoute"/ },
  { what: "two UpstreamTrafficSetting matches on one Egress", kind: "Egress", spec: "  sources: [{ kind: ServiceAccount, name: a }]\n  ports: [{ number: 80, protocol: http }]\n  matches:\n  - { kind: UpstreamTrafficSetting, name: a }\n  - { kind: UpstreamTrafficSetting, name: b }\n", code: C.invalidMatch, line: 10, message: /at most one UpstreamTrafficSetting/ },
];

for (const c of errorCases) {
  test(`named error ${c.code}: ${c.what}`, () => {
    const r = parseSmiManifests(doc(c.kind, c.spec), "p.yaml");
    assert.equal(r.objects.length, 0, "the object is left out");
    const e = r.errors.find((x) => x.code === c.code);
    assert.ok(e, `${c.code} among ${r.errors.map((x) => `${x.code}: ${x.message}`).join("; ")}`);
    assert.match(e.message, c.message);
    assert.match(e.message, new RegExp(`^p\\.yaml:${c.line}:\\d+: ${c.kind} ns/x \\(document 1\\)`));
    assert.equal(e.details.line, c.line);
  });
}

test("other kinds of policy.openservicemesh.io and other versions are named, never skipped", () => {
  const r = parseSmiManifests([
    `apiVersion: ${API}\nkind: AccessControl\nmetadata: { name: a, namespace: ns }\nspec: {}`,
    "apiVersion: policy.openservicemesh.io/v1beta1\nkind: Egress\nmetadata: { name: b, namespace: ns }\nspec: {}",
  ].join("\n---\n"), "p.yaml");
  assert.deepEqual(r.skipped, []);
  assert.deepEqual(r.errors.map((e) => [e.code, e.details.line]), [[C.unsupported, 2], [C.unsupported, 6]]);
  assert.match(r.errors[0]!.message, /kind "AccessControl" of policy\.openservicemesh\.io is not supported/);
  assert.match(r.errors[1]!.message, /unsupported apiVersion "policy\.openservicemesh\.io\/v1beta1" for Egress/);
});

test("a custom resource's problems carry a field path instead of a line", () => {
  const r = normaliseSmiObject({
    apiVersion: API, kind: "IngressBackend", metadata: { name: "ib", namespace: "web" },
    spec: { backends: [{ name: "web" }], sources: [{ kind: "IPRange", name: "not-a-cidr" }] },
  }, "kube://x");
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.deepEqual(r.issues.map((i) => [i.code, i.path.join(".")]), [[C.backendPort, "spec.backends.0"], [C.invalidCidr, "spec.sources.0.name"]]);
});

test("accepted for osm-edge but not enforced: egress mtls and the demo's httpHeaders load, each with a positioned note", () => {
  const text = [
    doc("Egress", "  sources: [{ kind: ServiceAccount, name: a, namespace: ns, mtls: { issuer: other, cert: { sn: 1, expiration: '2030-01-01 00:00:00', secret: { name: s, namespace: ns } } } }]\n  hosts: [a.example]\n  ports: [{ number: 443, protocol: https }]\n"),
    doc("UpstreamTrafficSetting", "  host: a.ns.svc.cluster.local\n  httpHeaders: [{ headers: [{ name: a, value: b }], rateLimit: { local: { requests: 3, unit: minute } } }]\n"),
  ].join("---\n");
  const r = parseSmiManifests(text, "p.yaml");
  assert.deepEqual(r.errors, []);
  assert.equal(r.objects.length, 2);
  assert.deepEqual(r.notes.map((n) => [n.code, n.details.line, n.details.path]), [[C.notEnforced, 7, "spec.sources[0].mtls"], [C.notEnforced, 18, "spec.httpHeaders"]]);
  assert.match(r.notes[1]!.message, /^p\.yaml:18:\d+: UpstreamTrafficSetting ns\/x \(document 2\): httpHeaders .* not enforced/);
});
