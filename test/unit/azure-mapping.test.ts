import { test } from "node:test";
import assert from "node:assert/strict";
import { azureProviderConfigSchema, mapInstance, parsePorts, type AzureRule, type Mapping } from "../../src/controller/providers/azure/index.js";

const RULES: AzureRule[] = [
  { resourceGroup: "rg-shop", scaleSet: "web", namespace: "shop", service: "web", ports: [8080] },
  { resourceGroup: "RG-Shop", namespace: "default", service: "shop-misc", ports: [9000, 9000, 80] },
  { scaleSet: "batch", namespace: "jobs", service: "batch", ports: [7000] },
];

const cases: Array<{ name: string; input: Parameters<typeof mapInstance>[0]; prefix?: string; want: Mapping | "bad" }> = [
  { name: "own tags", input: { resourceGroup: "rg", tags: { "meshfed-service": "bookstore", "meshfed-ports": "14001,14002", "meshfed-namespace": "books" } },
    want: { kind: "mapped", service: { namespace: "books", name: "bookstore" }, ports: [14001, 14002], via: "tags" } },
  { name: "namespace defaults to default; spaces and duplicates in ports", input: { resourceGroup: "rg", tags: { "meshfed-service": "a", "meshfed-ports": " 2, 1 ,2" } },
    want: { kind: "mapped", service: { namespace: "default", name: "a" }, ports: [1, 2], via: "tags" } },
  { name: "tag names are case-insensitive", input: { resourceGroup: "rg", tags: { "MeshFed-Service": "a", "MESHFED-PORTS": "80" } },
    want: { kind: "mapped", service: { namespace: "default", name: "a" }, ports: [80], via: "tags" } },
  { name: "scale-set tags apply, instance tag wins key by key",
    input: { resourceGroup: "rg", scaleSet: "ss", scaleSetTags: { "meshfed-service": "a", "meshfed-ports": "80", "meshfed-namespace": "ns1" }, tags: { "meshfed-ports": "81" } },
    want: { kind: "mapped", service: { namespace: "ns1", name: "a" }, ports: [81], via: "tags" } },
  { name: "custom prefix", prefix: "mesh_", input: { resourceGroup: "rg", tags: { mesh_service: "a", mesh_ports: "80", "meshfed-service": "ignored" } },
    want: { kind: "mapped", service: { namespace: "default", name: "a" }, ports: [80], via: "tags" } },
  { name: "other tags only: no mapping", input: { resourceGroup: "rg", tags: { env: "prod", "meshfed-owner": "me" } }, want: { kind: "none" } },
  { name: "rule: resource group and scale set", input: { resourceGroup: "rg-shop", scaleSet: "WEB" },
    want: { kind: "mapped", service: { namespace: "shop", name: "web" }, ports: [8080], via: "rule" } },
  { name: "rule: first match wins, names case-insensitive", input: { resourceGroup: "rg-shop", scaleSet: "other" },
    want: { kind: "mapped", service: { namespace: "default", name: "shop-misc" }, ports: [80, 9000], via: "rule" } },
  { name: "rule: scale set in any resource group", input: { resourceGroup: "rg-x", scaleSet: "batch" },
    want: { kind: "mapped", service: { namespace: "jobs", name: "batch" }, ports: [7000], via: "rule" } },
  { name: "tags win over rules", input: { resourceGroup: "rg-shop", tags: { "meshfed-service": "tagged", "meshfed-ports": "1" } },
    want: { kind: "mapped", service: { namespace: "default", name: "tagged" }, ports: [1], via: "tags" } },
  { name: "bad: service not a DNS label", input: { resourceGroup: "rg", tags: { "meshfed-service": "Book_Store", "meshfed-ports": "80" } }, want: "bad" },
  { name: "bad: port out of range", input: { resourceGroup: "rg", tags: { "meshfed-service": "a", "meshfed-ports": "80,70000" } }, want: "bad" },
  { name: "bad: ports missing", input: { resourceGroup: "rg", tags: { "meshfed-service": "a" } }, want: "bad" },
  { name: "bad: ports without service (even where a rule matches)", input: { resourceGroup: "rg-shop", tags: { "meshfed-ports": "80" } }, want: "bad" },
  { name: "bad: namespace", input: { resourceGroup: "rg", tags: { "meshfed-service": "a", "meshfed-ports": "80", "meshfed-namespace": "a/b" } }, want: "bad" },
];

for (const c of cases) {
  test(`mapInstance: ${c.name}`, () => {
    const got = mapInstance(c.input, c.prefix ?? "meshfed-", RULES);
    if (c.want === "bad") {
      assert.equal(got.kind, "bad");
      assert.match((got as { message: string }).message, /meshfed-|mesh_/);
    } else {
      assert.deepEqual(got, c.want);
    }
  });
}

test("a bad-tag message names the tag and its value", () => {
  const got = mapInstance({ resourceGroup: "rg", tags: { "meshfed-service": "ok", "meshfed-ports": "http" } }, "meshfed-", []);
  assert.deepEqual(got, { kind: "bad", message: 'meshfed-ports="http" is not a comma-separated list of ports 1-65535' });
});

test("parsePorts", () => {
  assert.deepEqual(parsePorts("443"), [443]);
  assert.deepEqual(parsePorts("14002,14001"), [14001, 14002]);
  for (const bad of ["", "0", "65536", "1,,2", "1;2", "-1", "1.5", "80 81"]) assert.equal(parsePorts(bad), undefined, bad);
});

test("config schema: defaults, durations, contract field names", () => {
  const cfg = azureProviderConfigSchema.parse({ subscriptionId: "11111111-2222-3333-4444-555555555555" });
  assert.deepEqual(cfg, {
    subscriptionId: "11111111-2222-3333-4444-555555555555",
    resourceGroups: [],
    endpoint: "https://management.azure.com",
    authorityHost: "https://login.microsoftonline.com",
    credential: { type: "default" },
    interval: 30_000,
    tagPrefix: "meshfed-",
    rules: [],
    removalGrace: 90_000,
  });
  const full = azureProviderConfigSchema.parse({
    subscriptionId: "11111111-2222-3333-4444-555555555555",
    resourceGroups: ["rg-a"],
    endpoint: "https://management.usgovcloudapi.net",
    authorityHost: "https://login.microsoftonline.us",
    credential: { type: "clientSecret", tenantId: "t", clientId: "c", secretFile: "/run/secrets/azure" },
    interval: "1m",
    tagPrefix: "mesh-",
    rules: [{ resourceGroup: "rg-a", service: "web", ports: [80] }],
    removalGrace: "5m",
  });
  assert.equal(full.interval, 60_000);
  assert.equal(full.removalGrace, 300_000);
  assert.deepEqual(full.rules, [{ resourceGroup: "rg-a", namespace: "default", service: "web", ports: [80] }]);
  assert.deepEqual(azureProviderConfigSchema.parse({ subscriptionId: "11111111-2222-3333-4444-555555555555", credential: { type: "managedIdentity", clientId: "abc" } }).credential, { type: "managedIdentity", clientId: "abc" });
});

test("config schema rejects what would fail later", () => {
  const base = { subscriptionId: "11111111-2222-3333-4444-555555555555" };
  const bad: Array<[string, Record<string, unknown>]> = [
    ["subscription not a GUID", { subscriptionId: "my-sub" }],
    ["http endpoint", { ...base, endpoint: "http://127.0.0.1:8080" }],
    ["unknown field", { ...base, tagFilter: "x" }],
    ["interval not a duration", { ...base, interval: "often" }],
    ["interval under 1s", { ...base, interval: "10ms" }],
    ["tag prefix with /", { ...base, tagPrefix: "meshfed.io/" }],
    ["clientSecret without secretFile", { ...base, credential: { type: "clientSecret", tenantId: "t", clientId: "c" } }],
    ["secret inline", { ...base, credential: { type: "clientSecret", tenantId: "t", clientId: "c", secretFile: "f", secret: "s" } }],
    ["unknown credential type", { ...base, credential: { type: "cli" } }],
    ["rule without scope", { ...base, rules: [{ service: "web", ports: [80] }] }],
    ["rule with bad port", { ...base, rules: [{ resourceGroup: "rg", service: "web", ports: [0] }] }],
  ];
  for (const [name, input] of bad) assert.equal(azureProviderConfigSchema.safeParse(input).success, false, name);
});
