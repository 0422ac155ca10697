import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile, readdir } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { parseHostsFile } from "../../src/controller/providers/onprem/hosts-file.js";
import { parseSmiManifests, type SmiObject } from "../../src/controller/spec/smi-parse.js";
import { resolveMeshSpec, validateMeshSpec } from "../../src/controller/spec/smi-validate.js";

const CONFIG = fileURLToPath(new URL("../../../config/", import.meta.url));

const doc = (apiVersion: string, kind: string, spec: string, meta = "  name: x\n  namespace: ns\n") =>
  `apiVersion: ${apiVersion}\nkind: ${kind}\nmetadata:\n${meta}spec:\n${spec}`;

function only(text: string): SmiObject {
  const r = parseSmiManifests(text, "f.yaml");
  assert.deepEqual(r.errors.map((e) => e.message), []);
  assert.equal(r.objects.length, 1);
  return r.objects[0]!;
}

test("config/smi examples parse and resolve without errors", async () => {
  const dir = `${CONFIG}smi/`;
  const objects: SmiObject[] = [];
  for (const name of (await readdir(dir)).filter((n) => n.endsWith(".yaml")).sort()) {
    const r = parseSmiManifests(await readFile(dir + name, "utf8"), name);
    assert.deepEqual(r.errors.map((e) => e.message), [], name);
    objects.push(...r.objects);
  }
  const { snapshot, errors } = resolveMeshSpec(objects);
  assert.deepEqual(errors.map((e) => e.message), []);
  assert.equal(snapshot.trafficSplits.length, 1);
  assert.ok(snapshot.trafficTargets.length >= 3);
  assert.ok(snapshot.httpRouteGroups.length >= 2);
  assert.equal(snapshot.tcpRoutes.length, 1);

  // Every service the SMI example names (split backends, identities) has
  // endpoints in the hosts example, so the two together are a runnable demo.
  const hostsFile = `${CONFIG}hosts.example.yaml`;
  const hosts = parseHostsFile(await readFile(hostsFile, "utf8"), hostsFile);
  const known = new Set(hosts.hosts.flatMap((h) => h.services.map((s) => `${s.namespace}/${s.name}`)));
  const named = [
    ...snapshot.trafficSplits.flatMap((s) => s.backends.map((b) => `${s.namespace}/${b.service}`)),
    ...snapshot.trafficTargets.flatMap((t) => [t.destination, ...t.sources].map((i) => `${i.namespace}/${i.name}`)),
  ];
  for (const s of named) assert.ok(known.has(s), `${s} has no endpoints in hosts.example.yaml`);
});

test("TrafficSplit: v1alpha2, v1alpha3 and v1alpha4 normalise to one shape", () => {
  const spec = "  service: web\n  backends:\n    - service: web-v1\n      weight: 90\n    - service: web-v2\n      weight: 10\n";
  const expected = { namespace: "ns", name: "x", origin: "f.yaml#1", service: "web", backends: [{ service: "web-v1", weight: 90 }, { service: "web-v2", weight: 10 }], matches: [] };
  for (const v of ["v1alpha2", "v1alpha3", "v1alpha4"]) {
    const o = only(doc(`split.smi-spec.io/${v}`, "TrafficSplit", spec));
    assert.equal(o.kind, "TrafficSplit");
    assert.deepEqual(o.object, expected, v);
  }
  for (const v of ["v1alpha3", "v1alpha4"]) {
    const o = only(doc(`split.smi-spec.io/${v}`, "TrafficSplit", `${spec}  matches:\n    - kind: HTTPRouteGroup\n      name: ab-test\n`));
    assert.deepEqual(o.object, { ...expected, matches: ["ab-test"] }, v);
  }
});

test("TrafficTarget v1alpha3 normalises identities (namespace defaults to the target's)", () => {
  const o = only(
    doc(
      "access.smi-spec.io/v1alpha3",
      "TrafficTarget",
      "  destination: { kind: ServiceAccount, name: api, port: 8080 }\n  sources:\n    - { kind: ServiceAccount, name: web, namespace: front }\n    - { kind: ServiceAccount, name: prom }\n  rules:\n    - { kind: HTTPRouteGroup, name: routes, matches: [metrics] }\n    - { kind: TCPRoute, name: tcp }\n",
      "  name: t\n",
    ),
  );
  assert.deepEqual(o.object, {
    namespace: "default",
    name: "t",
    origin: "f.yaml#1",
    destination: { kind: "ServiceAccount", name: "api", namespace: "default", port: 8080 },
    sources: [
      { kind: "ServiceAccount", name: "web", namespace: "front" },
      { kind: "ServiceAccount", name: "prom", namespace: "default" },
    ],
    rules: [
      { kind: "HTTPRouteGroup", name: "routes", matches: ["metrics"] },
      { kind: "TCPRoute", name: "tcp", matches: [] },
    ],
  });
});

test("HTTPRouteGroup v1alpha3 and v1alpha4; TCPRoute v1alpha3 and v1alpha4", () => {
  const spec = "  matches:\n    - name: api\n      pathRegex: /api/.*\n      methods: [get, HEAD]\n      headers:\n        user-agent: .*Firefox.*\n    - name: all\n";
  for (const v of ["v1alpha3", "v1alpha4"]) {
    const o = only(doc(`specs.smi-spec.io/${v}`, "HTTPRouteGroup", spec));
    assert.deepEqual(o.object, {
      namespace: "ns",
      name: "x",
      origin: "f.yaml#1",
      matches: [
        { name: "api", pathRegex: "/api/.*", methods: ["GET", "HEAD"], headers: { "user-agent": ".*Firefox.*" } },
        { name: "all", methods: [], headers: {} },
      ],
    });
  }
  assert.deepEqual(only(doc("specs.smi-spec.io/v1alpha3", "TCPRoute", "  {}\n")).object, { namespace: "ns", name: "x", origin: "f.yaml#1", ports: [] });
  assert.deepEqual(only(doc("specs.smi-spec.io/v1alpha4", "TCPRoute", "  matches:\n    ports: [6446, 3306, 3306]\n")).object, { namespace: "ns", name: "x", origin: "f.yaml#1", ports: [3306, 6446] });
  assert.deepEqual(only(doc("specs.smi-spec.io/v1alpha4", "TCPRoute", "  matches:\n    ports: []\n")).object.origin, "f.yaml#1");
});

const SPLIT = "split.smi-spec.io/v1alpha4";
const invalid: { name: string; text: string; code: string; line: number }[] = [
  { name: "unknown kind in an SMI group", text: doc("specs.smi-spec.io/v1alpha4", "UDPRoute", "  {}\n"), code: "MESHFED_SMI_UNKNOWN_KIND", line: 2 },
  { name: "no kind", text: "apiVersion: specs.smi-spec.io/v1alpha4\nmetadata: { name: x }\n", code: "MESHFED_SMI_UNKNOWN_KIND", line: 1 },
  { name: "unsupported apiVersion", text: doc("split.smi-spec.io/v1alpha1", "TrafficSplit", "  service: a\n"), code: "MESHFED_SMI_UNKNOWN_KIND", line: 1 },
  { name: "access v1alpha1", text: doc("access.smi-spec.io/v1alpha1", "TrafficTarget", "  {}\n"), code: "MESHFED_SMI_UNKNOWN_KIND", line: 1 },
  { name: "not a mapping", text: "- a\n- b\n", code: "MESHFED_SMI_INVALID", line: 1 },
  { name: "missing spec.service", text: doc(SPLIT, "TrafficSplit", "  backends: [{ service: a, weight: 1 }]\n"), code: "MESHFED_SMI_INVALID", line: 7 },
  { name: "unknown spec field", text: doc(SPLIT, "TrafficSplit", "  service: a\n  backend: []\n"), code: "MESHFED_SMI_INVALID", line: 8 },
  { name: "v1alpha2 split with matches", text: doc("split.smi-spec.io/v1alpha2", "TrafficSplit", "  service: a\n  backends: [{ service: b, weight: 1 }]\n  matches: []\n"), code: "MESHFED_SMI_INVALID", line: 9 },
  { name: "bad namespace", text: doc(SPLIT, "TrafficSplit", "  service: a\n  backends: [{ service: b, weight: 1 }]\n", "  name: x\n  namespace: Prod\n"), code: "MESHFED_SMI_INVALID", line: 5 },
  { name: "no backends", text: doc(SPLIT, "TrafficSplit", "  service: a\n"), code: "MESHFED_SMI_INVALID_WEIGHT", line: 7 },
  { name: "negative weight", text: doc(SPLIT, "TrafficSplit", "  service: a\n  backends:\n    - service: b\n      weight: -1\n"), code: "MESHFED_SMI_INVALID_WEIGHT", line: 10 },
  { name: "fractional weight", text: doc(SPLIT, "TrafficSplit", "  service: a\n  backends:\n    - service: b\n      weight: 0.5\n"), code: "MESHFED_SMI_INVALID_WEIGHT", line: 10 },
  { name: "quantity weight", text: doc("split.smi-spec.io/v1alpha2", "TrafficSplit", "  service: a\n  backends:\n    - service: b\n      weight: 500m\n"), code: "MESHFED_SMI_INVALID", line: 10 },
  { name: "all weights zero", text: doc(SPLIT, "TrafficSplit", "  service: a\n  backends:\n    - { service: b, weight: 0 }\n    - { service: c, weight: 0 }\n"), code: "MESHFED_SMI_INVALID_WEIGHT", line: 9 },
  { name: "invalid pathRegex", text: doc("specs.smi-spec.io/v1alpha4", "HTTPRouteGroup", "  matches:\n    - name: a\n      pathRegex: /books(\n"), code: "MESHFED_SMI_INVALID_REGEX", line: 9 },
  { name: "invalid header regex", text: doc("specs.smi-spec.io/v1alpha4", "HTTPRouteGroup", "  matches:\n    - name: a\n      headers:\n        user-agent: \"[a-\"\n"), code: "MESHFED_SMI_INVALID_REGEX", line: 10 },
  { name: "duplicate match name", text: doc("specs.smi-spec.io/v1alpha4", "HTTPRouteGroup", "  matches:\n    - name: a\n    - name: a\n"), code: "MESHFED_SMI_INVALID", line: 9 },
  { name: "bad method", text: doc("specs.smi-spec.io/v1alpha4", "HTTPRouteGroup", "  matches:\n    - name: a\n      methods: [\"GET /\"]\n"), code: "MESHFED_SMI_INVALID", line: 9 },
  { name: "TCPRoute port out of range", text: doc("specs.smi-spec.io/v1alpha4", "TCPRoute", "  matches:\n    ports:\n      - 0\n"), code: "MESHFED_SMI_INVALID", line: 9 },
  { name: "TrafficTarget without sources", text: doc("access.smi-spec.io/v1alpha3", "TrafficTarget", "  destination: { kind: ServiceAccount, name: a }\n  rules: [{ kind: TCPRoute, name: t }]\n"), code: "MESHFED_SMI_INVALID", line: 7 },
  { name: "TrafficTarget without rules", text: doc("access.smi-spec.io/v1alpha3", "TrafficTarget", "  destination: { kind: ServiceAccount, name: a }\n  sources: [{ kind: ServiceAccount, name: b }]\n"), code: "MESHFED_SMI_INVALID", line: 7 },
  { name: "destination not a ServiceAccount", text: doc("access.smi-spec.io/v1alpha3", "TrafficTarget", "  destination: { kind: IdentityBinding, name: a }\n  sources: [{ kind: ServiceAccount, name: b }]\n  rules: [{ kind: TCPRoute, name: t }]\n"), code: "MESHFED_SMI_INVALID", line: 7 },
  { name: "TCPRoute rule with matches", text: doc("access.smi-spec.io/v1alpha3", "TrafficTarget", "  destination: { kind: ServiceAccount, name: a }\n  sources: [{ kind: ServiceAccount, name: b }]\n  rules: [{ kind: TCPRoute, name: t, matches: [x] }]\n"), code: "MESHFED_SMI_INVALID", line: 9 },
];

for (const c of invalid) {
  test(`parseSmiManifests rejects: ${c.name}`, () => {
    const r = parseSmiManifests(c.text, "bad.yaml");
    assert.equal(r.objects.length, 0);
    const e = r.errors[0];
    assert.ok(e !== undefined, "expected an error");
    assert.equal(e.code, c.code, e.message);
    assert.equal(e.details.line, c.line, e.message);
    assert.equal(e.details.file, "bad.yaml");
    assert.equal(e.details.document, 1);
    assert.match(e.message, new RegExp(`^bad\\.yaml:${c.line}:\\d+: `));
  });
}

test("an invalid object is left out, the valid ones in the same file stay", () => {
  const good = doc("specs.smi-spec.io/v1alpha4", "TCPRoute", "  matches:\n    ports: [80]\n", "  name: good\n");
  const bad = doc(SPLIT, "TrafficSplit", "  service: a\n  backends: [{ service: b, weight: -5 }]\n", "  name: bad\n  namespace: shop\n");
  const r = parseSmiManifests(`---\n${good}---\n${bad}---\n${good.replace("name: good", "name: good2")}`, "mixed.yaml");
  assert.deepEqual(r.objects.map((o) => `${o.object.name}@${o.object.origin}`), ["good@mixed.yaml#1", "good2@mixed.yaml#3"]);
  assert.equal(r.errors.length, 1);
  const e = r.errors[0]!;
  assert.equal(e.code, "MESHFED_SMI_INVALID_WEIGHT");
  assert.equal(e.details.document, 2);
  assert.equal(e.details.kind, "TrafficSplit");
  assert.equal(e.details.namespace, "shop");
  assert.equal(e.details.name, "bad");
  assert.match(e.message, /^mixed\.yaml:\d+:\d+: TrafficSplit shop\/bad \(document 2\): weight -5/);
});

test("a YAML syntax error is reported as MESHFED_SMI_YAML with its position", () => {
  const r = parseSmiManifests("kind: TCPRoute\nmetadata: {name: a\n", "broken.yaml");
  assert.equal(r.errors[0]?.code, "MESHFED_SMI_YAML");
  assert.equal(r.errors[0]?.details.file, "broken.yaml");
  assert.equal(typeof r.errors[0]?.details.line, "number");
});

test("empty documents and comments are ignored", () => {
  assert.deepEqual(parseSmiManifests("", "e.yaml"), { objects: [], errors: [], skipped: [], notes: [] });
  assert.deepEqual(parseSmiManifests("# nothing\n---\n---\n", "e.yaml"), { objects: [], errors: [], skipped: [], notes: [] });
});

const ROUTES = doc("specs.smi-spec.io/v1alpha4", "HTTPRouteGroup", "  matches:\n    - name: buy\n    - name: list\n", "  name: routes\n  namespace: shop\n");
const TCP = doc("specs.smi-spec.io/v1alpha4", "TCPRoute", "  matches:\n    ports: [3306]\n", "  name: mysql\n  namespace: shop\n");
const target = (name: string, rules: string) =>
  doc("access.smi-spec.io/v1alpha3", "TrafficTarget", `  destination: { kind: ServiceAccount, name: store }\n  sources: [{ kind: ServiceAccount, name: buyer }]\n  rules:\n${rules}`, `  name: ${name}\n  namespace: shop\n`);
const split = (name: string, service: string, matches = "") =>
  doc(SPLIT, "TrafficSplit", `  service: ${service}\n  backends: [{ service: ${service}-v1, weight: 1 }]\n${matches}`, `  name: ${name}\n  namespace: shop\n`);

function parseAll(files: Record<string, string[]>): SmiObject[] {
  return Object.entries(files).flatMap(([file, docs]) => {
    const r = parseSmiManifests(docs.join("---\n"), file);
    assert.deepEqual(r.errors.map((e) => e.message), []);
    return [...r.objects];
  });
}

test("validateMeshSpec: references and duplicates", () => {
  const objects = parseAll({
    "a.yaml": [ROUTES, TCP, target("ok", "    - { kind: HTTPRouteGroup, name: routes, matches: [buy] }\n    - { kind: TCPRoute, name: mysql }\n"), split("s1", "web")],
    "b.yaml": [
      target("no-group", "    - { kind: HTTPRouteGroup, name: nope }\n"),
      target("no-match", "    - { kind: HTTPRouteGroup, name: routes, matches: [buy, sell] }\n"),
      target("no-tcp", "    - { kind: TCPRoute, name: postgres }\n"),
      split("s2", "api", "  matches: [{ kind: HTTPRouteGroup, name: ghost }]\n"),
      split("s3", "web"),
      TCP,
    ],
  });
  const { snapshot, errors } = resolveMeshSpec(objects);
  const summary = errors.map((e) => `${e.code} ${String(e.details.kind)} ${String(e.details.name)} ${String(e.details.origin)}`).sort();
  assert.deepEqual(summary, [
    "MESHFED_SMI_DUPLICATE TCPRoute mysql b.yaml#6",
    "MESHFED_SMI_DUPLICATE TrafficSplit s3 b.yaml#5",
    "MESHFED_SMI_MISSING_ROUTE TrafficSplit s2 b.yaml#4",
    "MESHFED_SMI_MISSING_ROUTE TrafficTarget no-group b.yaml#1",
    "MESHFED_SMI_MISSING_ROUTE TrafficTarget no-match b.yaml#2",
    "MESHFED_SMI_MISSING_ROUTE TrafficTarget no-tcp b.yaml#3",
  ]);
  const noMatch = errors.find((e) => e.details.name === "no-match")!;
  assert.match(noMatch.message, /^b\.yaml:\d+:\d+: TrafficTarget shop\/no-match \(document 2\): .*"sell"/);
  // Flagged objects are dropped; the first of the duplicates is kept.
  assert.deepEqual(snapshot.trafficTargets.map((t) => t.name), ["ok"]);
  assert.deepEqual(snapshot.trafficSplits.map((s) => s.name), ["s1"]);
  assert.deepEqual(snapshot.tcpRoutes.map((r) => r.origin), ["a.yaml#2"]);
  // The snapshot that resolve produced is itself clean.
  assert.deepEqual(validateMeshSpec(snapshot), []);
});

test("Kubernetes objects of other kinds are passed over, never errors; a List holding policies is an error, not a silent skip", () => {
  const text = [
    "apiVersion: v1\nkind: Service\nmetadata: { name: mysql, namespace: shop }\nspec: { ports: [{ port: 3306 }] }\n",
    doc("specs.smi-spec.io/v1alpha4", "TCPRoute", "  matches:\n    ports: [3306]\n"),
    "apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: web }\n",
    "apiVersion: config.openservicemesh.io/v1alpha2\nkind: MeshConfig\nmetadata: { name: osm-mesh-config, namespace: osm-system }\n",
    "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: { name: c }\n",
  ].join("---\n");
  const r = parseSmiManifests(text, "mixed.yaml");
  assert.deepEqual(r.errors.map((e) => e.message), []);
  assert.deepEqual(r.objects.map((o) => o.kind), ["TCPRoute"]);
  assert.deepEqual(r.skipped.map((s) => [s.kind, s.apiVersion, s.namespace, s.name, s.position.document, s.position.line]), [
    ["Service", "v1", "shop", "mysql", 1, 1],
    ["Deployment", "apps/v1", undefined, "web", 3, 15],
    ["MeshConfig", "config.openservicemesh.io/v1alpha2", "osm-system", "osm-mesh-config", 4, 19],
    ["List", "v1", undefined, undefined, 5, 23],
  ]);

  const list = parseSmiManifests(`apiVersion: v1\nkind: List\nitems:\n- ${doc(SPLIT, "TrafficSplit", "  service: a\n").replace(/\n(?=.)/g, "\n  ")}`, "list.yaml");
  assert.equal(list.skipped.length, 0);
  assert.equal(list.errors[0]?.code, "MESHFED_SMI_INVALID");
  assert.match(list.errors[0]?.message ?? "", /^list\.yaml:1:1: document 1: a List holding 1 mesh object\(s\); meshfed reads each object as its own YAML document/);
});
