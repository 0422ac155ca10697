// `meshfed namespace add|remove|list` against the fake API server, through
// @kubernetes/client-node: labels, idempotence, refusals by name, and edits
// made by others kept.
import test from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { MeshNamespaces, NAMESPACE_ERRORS } from "../../src/cli/mesh-namespaces.js";
import { kubeHarness } from "../fakes/kube-api-harness.js";

const run = promisify(execFile);
const CLI = join(import.meta.dirname, "..", "..", "src", "cli", "main.js");
const LABEL = "meshfed.io/monitored-by";

test("namespace add labels a namespace into the mesh once, keeps its other labels, and refuses protected, foreign and missing ones by name", async (t) => {
  const h = await kubeHarness(t);
  h.api.apply("namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name: "shop", labels: { team: "books" } } });
  h.api.apply("namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name: "bare" } });
  h.api.apply("namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name: "theirs", labels: { [LABEL]: "other-mesh" } } });
  const mesh = new MeshNamespaces(h.kubeConfig, { meshName: "meshfed", controllerNamespace: "meshfed-system" });

  assert.deepEqual(await mesh.add("shop"), { namespace: "shop", changed: true });
  assert.deepEqual(h.api.get("namespaces", undefined, "shop")?.metadata.labels, { team: "books", [LABEL]: "meshfed" });
  const rv = h.api.get("namespaces", undefined, "shop")?.metadata.resourceVersion;
  assert.deepEqual(await mesh.add("shop"), { namespace: "shop", changed: false });
  assert.equal(h.api.get("namespaces", undefined, "shop")?.metadata.resourceVersion, rv, "no write when already a member");
  // A namespace with no labels at all.
  assert.deepEqual(await mesh.add("bare"), { namespace: "bare", changed: true });
  assert.deepEqual(h.api.get("namespaces", undefined, "bare")?.metadata.labels, { [LABEL]: "meshfed" });
  assert.deepEqual(await mesh.list(), ["bare", "shop"]);

  const code = async (p: Promise<unknown>) => p.then(() => "ok", (err: { code?: string }) => err.code);
  assert.equal(await code(mesh.add("theirs")), NAMESPACE_ERRORS.otherMesh);
  assert.equal(await code(mesh.remove("theirs")), NAMESPACE_ERRORS.otherMesh);
  assert.equal(h.api.get("namespaces", undefined, "theirs")?.metadata.labels?.[LABEL], "other-mesh");
  assert.equal(await code(mesh.add("kube-system")), NAMESPACE_ERRORS.protected);
  assert.equal(await code(mesh.add("meshfed-system")), NAMESPACE_ERRORS.protected);
  assert.equal(await code(mesh.add("nowhere")), NAMESPACE_ERRORS.notFound);

  assert.deepEqual(await mesh.remove("shop"), { namespace: "shop", changed: true });
  assert.deepEqual(h.api.get("namespaces", undefined, "shop")?.metadata.labels, { team: "books" });
  assert.deepEqual(await mesh.remove("shop"), { namespace: "shop", changed: false });
  assert.deepEqual(await mesh.list(), ["bare"]);
});

test("an edit by someone else between the read and the write is kept: the guarded patch fails and is retried on a fresh read", async (t) => {
  const h = await kubeHarness(t);
  h.api.apply("namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name: "shop", labels: { team: "books" } } });
  let reads = 0;
  const mesh = new MeshNamespaces(h.kubeConfig, {
    meshName: "meshfed", controllerNamespace: "meshfed-system",
    api: (real) => ({
      listNamespace: (p) => real.listNamespace(p),
      patchNamespace: (p) => real.patchNamespace(p),
      // After our first read, another client labels the namespace before our patch.
      readNamespace: async (p) => {
        const ns = await real.readNamespace(p);
        if (++reads === 1) {
          const current = h.api.get("namespaces", undefined, "shop")!;
          h.api.apply("namespaces", { ...current, metadata: { ...current.metadata, labels: { ...current.metadata.labels, owner: "alice" } } });
        }
        return ns;
      },
    }),
  });
  assert.deepEqual(await mesh.add("shop"), { namespace: "shop", changed: true });
  assert.equal(reads, 2, "the stale write was refused and the namespace read again");
  assert.deepEqual(h.api.get("namespaces", undefined, "shop")?.metadata.labels, { team: "books", owner: "alice", [LABEL]: "meshfed" });
});

test("the CLI: meshfed namespace add / list / remove with --kubeconfig", async (t) => {
  const h = await kubeHarness(t);
  h.api.apply("namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name: "shop" } });
  const cli = (...args: string[]) => run(process.execPath, [CLI, "namespace", ...args, "--kubeconfig", h.kubeconfig]);
  assert.match((await cli("add", "shop")).stdout, /namespace shop joined mesh meshfed/);
  assert.equal((await cli("list")).stdout, "shop\n");
  const refused = await cli("add", "kube-system").then(() => undefined, (err: { code: number; stderr: string }) => err);
  assert.equal(refused?.code, 1);
  assert.match(refused?.stderr ?? "", /MESHFED_NAMESPACE_PROTECTED/);
  assert.match((await cli("remove", "shop")).stdout, /namespace shop left mesh meshfed/);
  assert.equal((await cli("list")).stdout, "");
});
