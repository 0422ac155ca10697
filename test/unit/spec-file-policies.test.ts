// The file store with a directory that holds osm-edge policy objects next to
// SMI objects: policies() fills, a hot reload changes them and fires change,
// an invalid policy is skipped with its error and the others stay.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { silentLogger } from "../../src/common/logger.js";
import { FileMeshSpec } from "../../src/controller/spec/files/file-mesh-spec.js";
import type { MeshSpecSnapshot } from "../../src/controller/spec/types.js";
import { waitFor } from "../helpers/wait.js";

const API = "policy.openservicemesh.io/v1alpha1";
const retry = (numRetries: number) =>
  `apiVersion: ${API}\nkind: Retry\nmetadata: { name: buyer-retry, namespace: bookbuyer }\nspec:\n  source: { kind: ServiceAccount, name: bookbuyer }\n  destinations: [{ kind: Service, name: bookstore, namespace: bookstore }]\n  retryPolicy: { retryOn: "5xx", numRetries: ${numRetries}, perTryTimeout: 1s }\n`;
const egress = `apiVersion: ${API}\nkind: Egress\nmetadata: { name: httpbin, namespace: bookbuyer }\nspec:\n  sources: [{ kind: ServiceAccount, name: bookbuyer }]\n  hosts: [httpbin.org]\n  ports: [{ number: 443, protocol: https }]\n`;

async function setup(t: { after: (fn: () => unknown) => void }) {
  const dir = await mkdtemp(join(tmpdir(), "meshfed-policies-"));
  const ac = new AbortController();
  const spec = new FileMeshSpec({ dir, logger: silentLogger(), debounceMs: 30, pollMs: 200 });
  const changes: MeshSpecSnapshot[] = [];
  spec.on("change", (s) => changes.push(s));
  t.after(async () => {
    ac.abort();
    await rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
  });
  return { dir, ac, spec, changes };
}

test("policies load from files, and a hot reload changes them with one change event", async (t) => {
  const { dir, ac, spec, changes } = await setup(t);
  await writeFile(join(dir, "policies.yaml"), `${retry(3)}---\n${egress}`);
  await spec.start(ac.signal);
  assert.deepEqual(spec.errors(), []);
  assert.equal(spec.status().state, "synced");
  assert.equal(spec.status().counts.retries, 1);
  assert.equal(spec.status().counts.egresses, 1);
  const p = spec.policies();
  assert.deepEqual(p.retries.map((r) => [r.name, r.retryPolicy.numRetries, r.retryPolicy.perTryTimeoutMs, r.origin]), [["buyer-retry", 3, 1000, `${join(dir, "policies.yaml")}#1`]]);
  assert.deepEqual(p.egresses[0]!.hosts, ["httpbin.org"]);

  await writeFile(join(dir, "policies.yaml"), `${retry(5)}---\n${egress}`);
  await waitFor(() => changes.length >= 1, { what: "a change event after the edit", timeoutMs: 5000 });
  assert.equal(changes[0]!.retries[0]!.retryPolicy.numRetries, 5);
  assert.deepEqual(spec.policies().retries[0]!.retryPolicy.numRetries, 5);

  // A new file with an IngressBackend: another change, the other policies stay.
  await writeFile(join(dir, "ingress.yaml"), `apiVersion: ${API}\nkind: IngressBackend\nmetadata: { name: store, namespace: bookstore }\nspec:\n  backends: [{ name: bookstore, port: { number: 14001, protocol: http } }]\n  sources: [{ kind: IPRange, name: 10.0.0.0/8 }]\n`);
  await waitFor(() => changes.length >= 2, { what: "a change event after the new file", timeoutMs: 5000 });
  assert.deepEqual(changes[1]!.ingressBackends.map((b) => b.name), ["store"]);
  assert.equal(changes[1]!.retries.length, 1);
  assert.equal(changes[1]!.egresses.length, 1);
});

test("an invalid policy is skipped with its named error, the valid ones apply; fixing it brings it in", async (t) => {
  const { dir, ac, spec, changes } = await setup(t);
  await writeFile(join(dir, "p.yaml"), `${retry(3)}---\n${egress.replace("protocol: https", "protocol: quic")}`);
  await spec.start(ac.signal);
  assert.deepEqual(spec.policies().retries.map((r) => r.name), ["buyer-retry"]);
  assert.deepEqual(spec.policies().egresses, []);
  assert.deepEqual(spec.errors().map((e) => [e.code, e.line]), [["MESHFED_POLICY_INVALID_PROTOCOL", 15]]);
  assert.equal(spec.status().state, "degraded");
  assert.equal(spec.status().lastError?.code, "MESHFED_POLICY_INVALID_PROTOCOL");

  await writeFile(join(dir, "p.yaml"), `${retry(3)}---\n${egress}`);
  await waitFor(() => changes.length >= 1, { what: "a change event after the fix", timeoutMs: 5000 });
  assert.deepEqual(changes[0]!.egresses.map((e) => e.name), ["httpbin"]);
  assert.deepEqual(spec.errors(), []);
  assert.equal(spec.status().state, "synced");
});
