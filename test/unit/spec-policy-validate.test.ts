// Cross-object checks on the policy kinds: what is dropped and reported,
// what is kept, and that the first object wins.
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseSmiManifests } from "../../src/controller/spec/smi-parse.js";
import { resolveMeshSpec } from "../../src/controller/spec/smi-validate.js";
import { POLICY_ERROR_CODES as C } from "../../src/controller/spec/policy-parse.js";

const API = "policy.openservicemesh.io/v1alpha1";

function resolve(...docs: string[]) {
  const parsed = parseSmiManifests(docs.join("\n---\n"), "p.yaml");
  assert.deepEqual(parsed.errors.map((e) => e.message), [], "every document is valid on its own");
  return resolveMeshSpec(parsed.objects);
}

const egress = (name: string, matches: string) =>
  `apiVersion: ${API}\nkind: Egress\nmetadata: { name: ${name}, namespace: app }\nspec:\n  sources: [{ kind: ServiceAccount, name: app }]\n  hosts: [api.example.com]\n  ports: [{ number: 80, protocol: http }]\n  matches: ${matches}\n`;
const setting = (name: string, namespace: string, host: string) =>
  `apiVersion: ${API}\nkind: UpstreamTrafficSetting\nmetadata: { name: ${name}, namespace: ${namespace} }\nspec:\n  host: ${host}\n  connectionSettings: { tcp: { maxConnections: 1 } }\n`;
const routes = (name: string, namespace: string) =>
  `apiVersion: specs.smi-spec.io/v1alpha4\nkind: HTTPRouteGroup\nmetadata: { name: ${name}, namespace: ${namespace} }\nspec:\n  matches: [{ name: all, pathRegex: ".*" }]\n`;
const backend = (name: string, service: string, port: number) =>
  `apiVersion: ${API}\nkind: IngressBackend\nmetadata: { name: ${name}, namespace: web }\nspec:\n  backends: [{ name: ${service}, port: { number: ${port}, protocol: http } }]\n  sources: [{ kind: IPRange, name: 10.0.0.0/8 }]\n`;
const retry = (name: string) =>
  `apiVersion: ${API}\nkind: Retry\nmetadata: { name: ${name}, namespace: app }\nspec:\n  source: { kind: ServiceAccount, name: app }\n  destinations: [{ kind: Service, name: db }]\n  retryPolicy: { retryOn: 5xx, numRetries: ${name.length} }\n`;

test("Egress matches: an HTTPRouteGroup or UpstreamTrafficSetting missing from the namespace drops the Egress", () => {
  const { snapshot, errors } = resolve(
    egress("ok", "[{ apiGroup: specs.smi-spec.io/v1alpha4, kind: HTTPRouteGroup, name: get }, { apiGroup: policy.openservicemesh.io/v1alpha1, kind: UpstreamTrafficSetting, name: limits }]"),
    egress("no-group", "[{ kind: HTTPRouteGroup, name: missing }]"),
    egress("group-elsewhere", "[{ kind: HTTPRouteGroup, name: other-ns }]"),
    egress("no-setting", "[{ kind: UpstreamTrafficSetting, name: missing }]"),
    routes("get", "app"),
    routes("other-ns", "elsewhere"),
    setting("limits", "app", "api.example.com"),
  );
  assert.deepEqual(snapshot.egresses.map((e) => e.name), ["ok"]);
  assert.deepEqual(errors.map((e) => [e.code, e.details.name]), [[C.missingMatch, "no-group"], [C.missingMatch, "group-elsewhere"], [C.missingMatch, "no-setting"]]);
  assert.match(errors[0]!.message, /^p\.yaml:\d+:\d+: Egress app\/no-group \(document 2\): matches HTTPRouteGroup "missing", which does not exist in namespace app$/);
});

test("two UpstreamTrafficSettings for one host: the first is used, the other reported and dropped", () => {
  const { snapshot, errors } = resolve(
    setting("first", "shop", "web.shop.svc.cluster.local"),
    setting("second", "shop", "WEB.shop.svc.cluster.local"),
    setting("other-host", "shop", "api.shop.svc.cluster.local"),
  );
  assert.deepEqual(snapshot.upstreamTrafficSettings.map((u) => u.name), ["first", "other-host"]);
  assert.deepEqual(errors.map((e) => [e.code, e.details.name]), [[C.conflict, "second"]]);
  assert.match(errors[0]!.message, /host web\.shop\.svc\.cluster\.local already has UpstreamTrafficSetting shop\/first \(p\.yaml#1\); the first one is used/);
});

test("an Egress matching a setting that lost a host conflict is dropped too: the setting it names is not in force", () => {
  const { snapshot, errors } = resolve(
    setting("winner", "other", "api.example.com"),
    setting("limits", "app", "api.example.com"),
    egress("e", "[{ kind: UpstreamTrafficSetting, name: limits }]"),
  );
  assert.deepEqual(snapshot.egresses, []);
  assert.deepEqual(errors.map((e) => [e.code, e.details.name]), [[C.conflict, "limits"], [C.missingMatch, "e"]]);
});

test("two IngressBackends for one backend port: the first is used", () => {
  const { snapshot, errors } = resolve(backend("a", "web", 80), backend("b", "web", 80), backend("c", "web", 81));
  assert.deepEqual(snapshot.ingressBackends.map((b) => b.name), ["a", "c"]);
  assert.deepEqual(errors.map((e) => [e.code, e.details.name]), [[C.conflict, "b"]]);
  assert.match(errors[0]!.message, /backend web\/web:80 is already admitted by IngressBackend web\/a/);
});

test("duplicates of every policy kind: the first of a namespace/name wins", () => {
  const { snapshot, errors } = resolve(retry("r"), retry("r"), backend("d", "x", 1), backend("d", "y", 2));
  assert.equal(snapshot.retries.length, 1);
  assert.equal(snapshot.retries[0]!.origin, "p.yaml#1");
  assert.deepEqual(snapshot.ingressBackends.map((b) => b.backends[0]!.name), ["x"]);
  assert.deepEqual(errors.map((e) => [e.code, e.details.kind, e.details.origin]), [[C.duplicate, "IngressBackend", "p.yaml#4"], [C.duplicate, "Retry", "p.yaml#2"]].sort((a, b) => (a[1]! < b[1]! ? -1 : 1)));
});

test("valid policies are kept next to invalid ones, sorted by namespace/name", () => {
  const parsed = parseSmiManifests([retry("zz"), retry("aa"), `apiVersion: ${API}\nkind: Retry\nmetadata: { name: bad, namespace: app }\nspec:\n  source: { kind: ServiceAccount, name: app }\n  retryPolicy: { retryOn: 5xx }\n`].join("\n---\n"), "p.yaml");
  assert.deepEqual(parsed.errors.map((e) => e.code), [C.noDestinations]);
  const { snapshot, errors } = resolveMeshSpec(parsed.objects);
  assert.deepEqual(errors, []);
  assert.deepEqual(snapshot.retries.map((r) => r.name), ["aa", "zz"]);
});
