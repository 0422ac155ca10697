// Our SMI CRD schemas admit at least what osm-edge's CRD schemas admit, so an
// object written for osm-edge reaches meshfed, which then says what it cannot
// use, instead of the API server refusing it with a message about our schema.
// The cases are the edges of osm-edge's published CRDs (field facts, written
// here by hand): each passes osm-edge's schema.
import { test } from "node:test";
import assert from "node:assert/strict";
import { loadCrdSchemas } from "../fakes/crd-schemas.js";
import { pruneCustomResource, validateCustomResource } from "../fakes/openapi-schema.js";
import { normaliseSmiObject } from "../../src/controller/spec/smi-parse.js";

const meta = { name: "x", namespace: "shop" };
const cases: { what: string; resource: string; version: string; spec: unknown; meshfed: "ok" | RegExp }[] = [
  { what: "headers as a list of one-entry maps", resource: "httproutegroups.specs.smi-spec.io", version: "v1alpha4", spec: { matches: [{ name: "a", methods: ["GET"], headers: [{ "user-agent": ".*" }, { "client-app": "x" }] }] }, meshfed: "ok" },
  { what: "headers as one map (SMI prose; osm-edge would refuse it)", resource: "httproutegroups.specs.smi-spec.io", version: "v1alpha3", spec: { matches: [{ name: "a", headers: { "user-agent": ".*" } }] }, meshfed: "ok" },
  { what: "a match with an empty name", resource: "httproutegroups.specs.smi-spec.io", version: "v1alpha4", spec: { matches: [{ name: "" }] }, meshfed: /a match needs a name/ },
  { what: "a split without backends", resource: "trafficsplits.split.smi-spec.io", version: "v1alpha2", spec: { service: "web", backends: [] }, meshfed: /at least one backend/ },
  { what: "a fractional weight", resource: "trafficsplits.split.smi-spec.io", version: "v1alpha4", spec: { service: "web", backends: [{ service: "web-v1", weight: 0.5 }] }, meshfed: /not a whole number/ },
  { what: "a negative weight", resource: "trafficsplits.split.smi-spec.io", version: "v1alpha4", spec: { service: "web", backends: [{ service: "web-v1", weight: -1 }] }, meshfed: /not a whole number/ },
  { what: "split matches", resource: "trafficsplits.split.smi-spec.io", version: "v1alpha4", spec: { service: "web", backends: [{ service: "web-v1", weight: 1 }], matches: [{ kind: "HTTPRouteGroup", name: "ab" }] }, meshfed: "ok" },
  { what: "a target without sources or rules", resource: "traffictargets.access.smi-spec.io", version: "v1alpha3", spec: { destination: { kind: "ServiceAccount", name: "db" }, sources: [], rules: [] }, meshfed: /at least one source/ },
  { what: "a destination of another kind", resource: "traffictargets.access.smi-spec.io", version: "v1alpha3", spec: { destination: { kind: "Group", name: "db" }, sources: [{ kind: "ServiceAccount", name: "a" }], rules: [{ kind: "TCPRoute", name: "t" }] }, meshfed: /ServiceAccount/ },
  { what: "a UDPRoute rule", resource: "traffictargets.access.smi-spec.io", version: "v1alpha3", spec: { destination: { kind: "ServiceAccount", name: "db" }, sources: [{ kind: "ServiceAccount", name: "a" }], rules: [{ kind: "UDPRoute", name: "u" }] }, meshfed: /HTTPRouteGroup|TCPRoute/ },
  { what: "TCPRoute ports outside 1-65535", resource: "tcproutes.specs.smi-spec.io", version: "v1alpha4", spec: { matches: { ports: [0] } }, meshfed: /not an integer in 1\.\.65535/ },
  { what: "no spec at all", resource: "tcproutes.specs.smi-spec.io", version: "v1alpha4", spec: undefined, meshfed: /expected object, received undefined/ },
];

const KIND: Record<string, [string, string]> = {
  "httproutegroups.specs.smi-spec.io": ["specs.smi-spec.io", "HTTPRouteGroup"],
  "trafficsplits.split.smi-spec.io": ["split.smi-spec.io", "TrafficSplit"],
  "traffictargets.access.smi-spec.io": ["access.smi-spec.io", "TrafficTarget"],
  "tcproutes.specs.smi-spec.io": ["specs.smi-spec.io", "TCPRoute"],
};

for (const c of cases) {
  test(`our CRD admits what osm-edge's admits: ${c.what}; meshfed ${c.meshfed === "ok" ? "uses it" : "names the problem"}`, async () => {
    const schema = (await loadCrdSchemas()).get(c.resource)?.get(c.version);
    assert.ok(schema, `${c.resource} serves ${c.version}`);
    const [group, kind] = KIND[c.resource]!;
    const object = { apiVersion: `${group}/${c.version}`, kind, metadata: meta, ...(c.spec === undefined ? {} : { spec: c.spec }) };
    assert.deepEqual(validateCustomResource(object, schema), []);
    const stored = pruneCustomResource(object, schema);
    assert.deepEqual(stored, object, "nothing the user wrote is pruned");
    const r = normaliseSmiObject(stored, "kube://x");
    if (c.meshfed === "ok") assert.equal(r.ok, true, r.ok ? "" : r.issues.map((i) => i.message).join("; "));
    else {
      assert.equal(r.ok, false);
      assert.match(r.ok ? "" : r.issues.map((i) => i.message).join("; "), c.meshfed);
    }
  });
}

test("the schema checker refuses what no schema allows (so the cases above can fail)", async () => {
  const schema = (await loadCrdSchemas()).get("trafficsplits.split.smi-spec.io")!.get("v1alpha4")!;
  assert.deepEqual(validateCustomResource({ spec: { service: "web", backends: [{ service: "a", weight: "50" }] } }, schema), [
    'spec.backends[0].weight: Invalid value: "string": must be of type number',
  ]);
  assert.deepEqual(validateCustomResource({ spec: { backends: [] } }, schema), ["spec.service: Required value"]);
  assert.deepEqual(pruneCustomResource({ spec: { service: "web", backends: [], typo: 1 } }, schema), { spec: { service: "web", backends: [] } });
});
