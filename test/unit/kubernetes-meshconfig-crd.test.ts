// osm-edge's MeshConfig object as meshfed reads it: the CRD serves osm-edge's
// names and versions and keeps osm-edge's fields; the parser maps three fields,
// notes the rest with their paths and names bad values by path; settings are
// layered setting by setting (object > ConfigMap > config file).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { parse } from "yaml";
import { MESH_CONFIG_CUSTOM_RESOURCE, parseMeshConfigObject } from "../../src/controller/spec/kubernetes/mesh-config-crd.js";
import { combinationProblems, layerMeshSettings, type MeshSettings } from "../../src/controller/spec/kubernetes/mesh-settings.js";
import { loadCrdSchemas } from "../fakes/crd-schemas.js";
import { pruneCustomResource, validateCustomResource } from "../fakes/openapi-schema.js";

const DEFAULTS: MeshSettings = { permissive: false, outboundPassthrough: true, proxyValidityMs: 8760 * 3_600_000, serviceValidityMs: 24 * 3_600_000, serviceJitterMs: 3_600_000 };
const H = 3_600_000;

interface Crd { metadata: { name: string }; spec: { group: string; scope: string; names: { kind: string; plural: string; singular: string; shortNames: string[] }; versions: { name: string; served: boolean; storage: boolean; deprecated?: boolean }[] } }

test("the MeshConfig CRD: osm-edge's group, kind, plural and short name; v1alpha2 stored and watched, v1alpha1 still served", async () => {
  const crd = parse(await readFile(join(process.cwd(), "config/kubernetes/crds/mesh-config.yaml"), "utf8")) as Crd;
  const r = MESH_CONFIG_CUSTOM_RESOURCE;
  assert.equal(crd.metadata.name, `${r.plural}.${r.group}`);
  assert.deepEqual([crd.spec.group, crd.spec.scope, crd.spec.names.kind, crd.spec.names.plural, crd.spec.names.singular, crd.spec.names.shortNames], ["config.openservicemesh.io", "Namespaced", "MeshConfig", "meshconfigs", "meshconfig", ["meshconfig"]]);
  assert.deepEqual(crd.spec.versions.map((v) => [v.name, v.served, v.storage, v.deprecated ?? false]), [["v1alpha2", true, true, false], ["v1alpha1", true, false, true]]);
  assert.equal(r.version, "v1alpha2");
});

/** An object shaped like osm-edge's default MeshConfig (fields from its CRD, values written here). */
const OSM_DEFAULT = {
  apiVersion: "config.openservicemesh.io/v1alpha2", kind: "MeshConfig", metadata: { name: "osm-mesh-config", namespace: "meshfed-system" },
  spec: {
    clusterSet: { properties: [] },
    sidecar: { enablePrivilegedInitContainer: false, logLevel: "error", sidecarClass: "pipy", sidecarImage: "flomesh/pipy:0.90", localProxyMode: "Localhost", localDNSProxy: { enable: false } },
    traffic: { interceptionMode: "iptables", enableEgress: true, enablePermissiveTrafficPolicyMode: true, outboundPortExclusionList: [], inboundPortExclusionList: [9090], outboundIPRangeExclusionList: [] },
    observability: { enableDebugServer: false, osmLogLevel: "info", tracing: { enable: false } },
    certificate: { serviceCertValidityDuration: "24h", certKeyBitSize: 2048 },
    repoServer: { ipaddr: "127.0.0.1", codebase: "" },
    featureFlags: { enableEgressPolicy: true, enableRetryPolicy: false },
  },
};

test("our CRD admits osm-edge's default object as written and prunes nothing of it", async () => {
  const schemas = await loadCrdSchemas();
  for (const version of ["v1alpha2", "v1alpha1"]) {
    const schema = schemas.get("meshconfigs.config.openservicemesh.io")?.get(version);
    assert.ok(schema, version);
    const object = { ...OSM_DEFAULT, apiVersion: `config.openservicemesh.io/${version}` };
    assert.deepEqual(validateCustomResource(object, schema), []);
    assert.deepEqual(pruneCustomResource(object, schema), object);
    // The three fields meshfed acts on are typed: a wrong type is the API server's 422.
    assert.deepEqual(validateCustomResource({ spec: { traffic: { enableEgress: "no" }, certificate: { serviceCertValidityDuration: 24 } } }, schema), [
      'spec.traffic.enableEgress: Invalid value: "string": must be of type boolean',
      'spec.certificate.serviceCertValidityDuration: Invalid value: "number": must be of type string',
    ]);
  }
});

test("the shipped sample passes the CRD and applies with no notes", async () => {
  const sample = parse(await readFile(join(process.cwd(), "config/kubernetes/samples/mesh-config.yaml"), "utf8")) as Record<string, unknown>;
  const schema = (await loadCrdSchemas()).get("meshconfigs.config.openservicemesh.io")!.get("v1alpha2")!;
  assert.deepEqual(validateCustomResource(sample, schema), []);
  assert.deepEqual(parseMeshConfigObject(sample), { ok: true, layer: { permissive: false, outboundPassthrough: true, serviceValidityMs: 24 * H }, notes: [] });
});

test("osm-edge's default object: three settings, and a note per other field it sets (empty lists set nothing)", () => {
  const r = parseMeshConfigObject(OSM_DEFAULT);
  assert.ok(r.ok);
  assert.deepEqual(r.layer, { permissive: true, outboundPassthrough: true, serviceValidityMs: 24 * H });
  assert.deepEqual(r.notes.map((n) => n.path), [
    "spec.certificate.certKeyBitSize",
    "spec.featureFlags.enableEgressPolicy", "spec.featureFlags.enableRetryPolicy",
    "spec.observability.enableDebugServer", "spec.observability.osmLogLevel", "spec.observability.tracing.enable",
    "spec.repoServer.codebase", "spec.repoServer.ipaddr",
    "spec.sidecar.enablePrivilegedInitContainer", "spec.sidecar.localDNSProxy.enable", "spec.sidecar.localProxyMode", "spec.sidecar.logLevel", "spec.sidecar.sidecarClass", "spec.sidecar.sidecarImage",
    "spec.traffic.inboundPortExclusionList", "spec.traffic.interceptionMode",
  ]);
  assert.ok(r.notes.every((n) => n.code === "MESHFED_MESHCONFIG_NOT_ENFORCED"));
  assert.match(r.notes.find((n) => n.path === "spec.traffic.inboundPortExclusionList")!.message, /not enforced \(the controller config's providers\.kubernetes\.injector\.excludeInboundPorts sets it\)$/);
});

const cases: { what: string; spec: unknown; want: object | RegExp }[] = [
  { what: "no spec", spec: undefined, want: {} },
  { what: "an empty spec", spec: {}, want: {} },
  { what: "permissive only", spec: { traffic: { enablePermissiveTrafficPolicyMode: true } }, want: { permissive: true } },
  { what: "egress off", spec: { traffic: { enableEgress: false } }, want: { outboundPassthrough: false } },
  { what: "a Go duration", spec: { certificate: { serviceCertValidityDuration: "1h30m" } }, want: { serviceValidityMs: 1.5 * H } },
  { what: "not a duration", spec: { certificate: { serviceCertValidityDuration: "1 day" } }, want: /^spec\.certificate\.serviceCertValidityDuration: "1 day" is not a duration/ },
  { what: "too short", spec: { certificate: { serviceCertValidityDuration: "30s" } }, want: /^spec\.certificate\.serviceCertValidityDuration: 30s is too short$/ },
  { what: "a string for a boolean (osm-edge's CRD would refuse it too)", spec: { traffic: { enableEgress: "false" } }, want: /^spec\.traffic\.enableEgress: expected true or false, got "false"$/ },
  { what: "a number for a duration", spec: { certificate: { serviceCertValidityDuration: 24 } }, want: /^spec\.certificate\.serviceCertValidityDuration: expected a duration such as "24h", got 24$/ },
  { what: "a section that is not an object", spec: { traffic: [true] }, want: /^spec\.traffic: expected an object, got an array$/ },
  { what: "a spec that is not an object", spec: "x", want: /^spec: expected an object, got string$/ },
  { what: "every problem at once", spec: { traffic: { enablePermissiveTrafficPolicyMode: 1, enableEgress: null }, certificate: { serviceCertValidityDuration: "soon" } }, want: /enablePermissiveTrafficPolicyMode: expected true or false, got 1; spec\.certificate\.serviceCertValidityDuration: "soon"/ },
];

for (const c of cases) {
  test(`MeshConfig object: ${c.what}`, () => {
    const r = parseMeshConfigObject({ apiVersion: "config.openservicemesh.io/v1alpha2", kind: "MeshConfig", metadata: { name: "m" }, ...(c.spec === undefined ? {} : { spec: c.spec }) });
    if (c.want instanceof RegExp) {
      assert.equal(r.ok, false);
      assert.match(r.ok ? "" : r.problems.join("; "), c.want);
    } else {
      assert.deepEqual(r, { ok: true, layer: c.want, notes: [] });
    }
  });
}

test("layering: setting by setting, the object over the ConfigMap over the config file; sources say which", () => {
  const l = layerMeshSettings(DEFAULTS, [
    { source: "meshconfig", layer: { permissive: true } },
    { source: "configmap", layer: { permissive: false, serviceJitterMs: 600_000 } },
  ]);
  assert.deepEqual(l.settings, { ...DEFAULTS, permissive: true, serviceJitterMs: 600_000 });
  assert.deepEqual(l.sources, { permissive: "meshconfig", outboundPassthrough: "config-file", proxyValidityMs: "config-file", serviceValidityMs: "config-file", serviceJitterMs: "configmap" });
  assert.deepEqual(combinationProblems(l), []);
  // Fine alone, wrong together: named with both sources.
  const bad = layerMeshSettings(DEFAULTS, [{ source: "meshconfig", layer: { serviceValidityMs: 0.5 * H } }, { source: "configmap", layer: undefined }]);
  assert.deepEqual(combinationProblems(bad), ["certificates.serviceJitter (3600000 ms, from the config-file) must be less than certificates.serviceValidity (1800000 ms, from the meshconfig)"]);
  // Defaults without outboundPassthrough mean passthrough.
  const { outboundPassthrough: _dropped, ...noPassthrough } = DEFAULTS;
  assert.equal(layerMeshSettings(noPassthrough, []).settings.outboundPassthrough, true);
});
