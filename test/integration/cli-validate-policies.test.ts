// `meshfed validate` on osm-edge's policy kinds: the same named errors as the
// stores, positioned at a line, cross-object checks across the files given
// together, and nothing of the policy group passed over silently.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { runCli } from "../helpers/controller-process.js";

const CORPUS_POLICIES = fileURLToPath(new URL("../../../test/corpus/osm-edge/policies.yaml", import.meta.url));

const API = "policy.openservicemesh.io/v1alpha1";

test("meshfed validate names each policy problem with its code and line, and exits 1", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "meshfed-validate-policies-"));
  t.after(() => rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 }));
  await writeFile(join(dir, "a-egress.yaml"), [
    `apiVersion: ${API}`,
    "kind: Egress",
    "metadata: { name: e, namespace: app }",
    "spec:",
    "  sources: [{ kind: ServiceAccount, name: app }]",
    "  hosts: [api.example.com]",
    "  ports: [{ number: 80, protocol: http }]",
    "  matches: [{ apiGroup: specs.smi-spec.io/v1alpha4, kind: HTTPRouteGroup, name: nowhere }]",
    "---",
    `apiVersion: ${API}`,
    "kind: Retry",
    "metadata: { name: r, namespace: app }",
    "spec:",
    "  source: { kind: ServiceAccount, name: app }",
    "  destinations: [{ kind: Service, name: db }]",
    "  retryPolicy:",
    "    retryOn: 5xx",
    "    perTryTimeout: soon",
    "---",
    `apiVersion: ${API}`,
    "kind: AccessControl",
    "metadata: { name: acl, namespace: app }",
    "spec: {}",
    "",
  ].join("\n"));
  await writeFile(join(dir, "b-settings.yaml"), [
    `apiVersion: ${API}`,
    "kind: UpstreamTrafficSetting",
    "metadata: { name: one, namespace: shop }",
    "spec: { host: web.shop.svc.cluster.local }",
    "---",
    `apiVersion: ${API}`,
    "kind: UpstreamTrafficSetting",
    "metadata: { name: two, namespace: shop }",
    "spec: { host: web.shop.svc.cluster.local }",
    "---",
    `apiVersion: ${API}`,
    "kind: IngressBackend",
    "metadata: { name: ib, namespace: shop }",
    "spec:",
    "  backends: [{ name: web }]",
    "  sources: [{ kind: IPRange, name: 10.0.0.0/8 }]",
    "",
  ].join("\n"));
  const r = await runCli(["validate", dir]);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  const a = join(dir, "a-egress.yaml");
  const b = join(dir, "b-settings.yaml");
  const lines = r.stdout.split("\n").filter((l) => l.startsWith("error "));
  assert.deepEqual(lines.map((l) => l.split(" ").slice(1, 3).join(" ")).sort(), [
    `MESHFED_POLICY_BACKEND_PORT ${b}:15:14:`,
    `MESHFED_POLICY_CONFLICT ${b}:6:1:`,
    `MESHFED_POLICY_INVALID_DURATION ${a}:18:20:`,
    `MESHFED_POLICY_MISSING_MATCH ${a}:1:1:`,
    `MESHFED_POLICY_UNSUPPORTED ${a}:21:7:`,
  ].sort());
  assert.match(r.stdout, /MESHFED_POLICY_MISSING_MATCH .*Egress app\/e \(document 1\): matches HTTPRouteGroup "nowhere", which does not exist in namespace app/);
  assert.match(r.stdout, /MESHFED_POLICY_CONFLICT .*UpstreamTrafficSetting shop\/two \(document 2\): host web\.shop\.svc\.cluster\.local already has UpstreamTrafficSetting shop\/one/);
  assert.match(r.stdout, /^0 valid, 2 invalid$/m);
  assert.doesNotMatch(r.stdout, /skipped/, "a kind of the policy group is an error, never a skipped object");

  const json = await runCli(["validate", "-o", "json", dir]);
  assert.equal(json.code, 1);
  const reports = JSON.parse(json.stdout) as Array<{ file: string; kind: string; errors: { code: string }[] }>;
  assert.deepEqual(reports.map((x) => [x.file, x.kind, x.errors.map((e) => e.code).sort()]), [
    [a, "smi", ["MESHFED_POLICY_INVALID_DURATION", "MESHFED_POLICY_MISSING_MATCH", "MESHFED_POLICY_UNSUPPORTED"]],
    [b, "smi", ["MESHFED_POLICY_BACKEND_PORT", "MESHFED_POLICY_CONFLICT"]],
  ]);
});

test("meshfed validate passes osm-edge's policy objects and notes the fields it accepts without enforcing", async () => {
  const r = await runCli(["validate", CORPUS_POLICIES]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /^ok\s+.*policies\.yaml \(smi\)$/m);
  assert.match(r.stdout, /^note {2}MESHFED_POLICY_NOT_ENFORCED .*policies\.yaml:\d+:\d+: UpstreamTrafficSetting bookstore\/http-rate-limit \(document 11\): httpHeaders/m);
  assert.match(r.stdout, /^1 valid, 0 invalid$/m);
  const json = JSON.parse((await runCli(["validate", "-o", "json", CORPUS_POLICIES])).stdout) as Array<{ errors: unknown[]; notes?: { code: string }[] }>;
  assert.deepEqual(json.map((x) => [x.errors.length, x.notes?.map((n) => n.code)]), [[0, ["MESHFED_POLICY_NOT_ENFORCED"]]]);
});
