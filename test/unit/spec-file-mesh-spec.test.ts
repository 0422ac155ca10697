import { test } from "node:test";
import assert from "node:assert/strict";
import { cp, mkdtemp, readFile, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { silentLogger } from "../../src/common/logger.js";
import { ControllerMetrics } from "../../src/common/metrics.js";
import { FileMeshSpec } from "../../src/controller/spec/files/file-mesh-spec.js";
import type { MeshSpecSnapshot } from "../../src/controller/spec/types.js";
import { waitFor } from "../helpers/wait.js";

const EXAMPLES = fileURLToPath(new URL("../../../config/smi/", import.meta.url));

async function setup(t: { after: (fn: () => unknown) => void }) {
  const root = await mkdtemp(join(tmpdir(), "meshfed-smi-"));
  const dir = join(root, "smi");
  await cp(EXAMPLES, dir, { recursive: true });
  const ac = new AbortController();
  const metrics = new ControllerMetrics();
  const spec = new FileMeshSpec({ dir, logger: silentLogger(), metrics, debounceMs: 30 });
  t.after(async () => {
    ac.abort();
    await rm(root, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
  });
  return { dir, ac, metrics, spec };
}

function nextChange(spec: FileMeshSpec, timeoutMs = 1000): Promise<MeshSpecSnapshot> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no change event within ${timeoutMs} ms`));
    }, timeoutMs);
    const off = spec.on("change", (s) => {
      clearTimeout(timer);
      off();
      resolve(s);
    });
  });
}


test("start() reads the example directory", async (t) => {
  const { dir, ac, metrics, spec } = await setup(t);
  await spec.start(ac.signal);
  const st = spec.status();
  assert.equal(st.id, "smi-files");
  assert.equal(st.kind, "spec");
  assert.equal(st.state, "synced");
  assert.equal(st.lastError, null);
  assert.deepEqual(st.counts, { trafficSplits: 1, trafficTargets: 4, httpRouteGroups: 2, tcpRoutes: 1, egresses: 0, ingressBackends: 0, upstreamTrafficSettings: 0, retries: 0, errors: 0 });
  assert.deepEqual(spec.trafficSplits()[0]?.backends, [{ service: "bookstore-v1", weight: 50 }, { service: "bookstore-v2", weight: 50 }]);
  assert.equal(spec.trafficSplits()[0]?.origin, `${join(dir, "traffic-split.yaml")}#1`);
  assert.equal(spec.tcpRoutes()[0]?.name, "mysql");
  assert.equal(spec.httpRouteGroups().length, 2);
  assert.equal(spec.trafficTargets().length, 4);
  assert.deepEqual(spec.errors(), []);
  assert.equal((await metrics.providerSyncs.get()).values[0]?.value, 1);
});

test("an edit emits the whole new spec; the same content again emits nothing", async (t) => {
  const { dir, ac, spec } = await setup(t);
  await spec.start(ac.signal);
  const file = join(dir, "traffic-split.yaml");
  const text = await readFile(file, "utf8");
  let change = nextChange(spec);
  await writeFile(file, text.replace("weight: 50\n    - service: bookstore-v2\n      weight: 50", "weight: 90\n    - service: bookstore-v2\n      weight: 10"));
  const s = await change;
  assert.deepEqual(s.trafficSplits[0]?.backends.map((b) => b.weight), [90, 10]);
  assert.equal(s.trafficTargets.length, 4);
  assert.deepEqual(spec.trafficSplits()[0]?.backends.map((b) => b.weight), [90, 10]);

  let events = 0;
  const off = spec.on("change", () => events++);
  const syncedAt = spec.status().lastSync;
  await sleep(5);
  await writeFile(file, `# reformatted\n${await readFile(file, "utf8")}`);
  await waitFor(() => spec.status().lastSync !== syncedAt, { what: "spec.status().lastSync !== syncedAt", timeoutMs: 5000 });
  await sleep(50);
  assert.equal(events, 0);
  off();

  // A new file saved by rename (vim, atomic writers) counts too.
  change = nextChange(spec);
  const tmp = join(dir, ".extra.yaml.tmp");
  await writeFile(tmp, "apiVersion: specs.smi-spec.io/v1alpha4\nkind: TCPRoute\nmetadata:\n  name: redis\n  namespace: bookstore\nspec:\n  matches:\n    ports: [6379]\n");
  await rename(tmp, join(dir, "extra.yml"));
  assert.deepEqual((await change).tcpRoutes.map((r) => r.name), ["redis", "mysql"]); // sorted by namespace/name: bookstore before bookwarehouse
});

test("a YAML syntax error anywhere keeps the last good spec; a fix recovers", async (t) => {
  const { dir, ac, metrics, spec } = await setup(t);
  await spec.start(ac.signal);
  const before = JSON.stringify({ s: spec.trafficSplits(), t: spec.trafficTargets(), g: spec.httpRouteGroups(), r: spec.tcpRoutes() });
  let events = 0;
  spec.on("change", () => events++);
  const file = join(dir, "access.yaml");
  const good = await readFile(file, "utf8");
  // Half-saved: the file ends inside a flow sequence.
  await writeFile(file, good.slice(0, good.indexOf("[buy-a-book") + 5));
  await waitFor(() => spec.status().state === "degraded", { what: "spec.status().state === \"degraded\"", timeoutMs: 5000 });
  const st = spec.status();
  assert.equal(st.lastError?.code, "MESHFED_SMI_YAML");
  assert.equal(st.lastError?.file, file);
  assert.equal(typeof st.lastError?.line, "number");
  assert.equal(JSON.stringify({ s: spec.trafficSplits(), t: spec.trafficTargets(), g: spec.httpRouteGroups(), r: spec.tcpRoutes() }), before);
  assert.equal(events, 0);
  const errs = (await metrics.providerErrors.get()).values.find((v) => v.labels.code === "MESHFED_SMI_YAML");
  assert.ok((errs?.value ?? 0) >= 1);

  await writeFile(file, good);
  await waitFor(() => spec.status().state === "synced", { what: "spec.status().state === \"synced\"", timeoutMs: 5000 });
  assert.equal(spec.status().lastError, null);
  assert.equal(events, 0, "content equal to the last good spec: no event");
});

test("an invalid object is skipped and reported while the valid ones apply", async (t) => {
  const { dir, ac, metrics, spec } = await setup(t);
  await spec.start(ac.signal);
  const change = nextChange(spec);
  await writeFile(
    join(dir, "more.yaml"),
    [
      "apiVersion: split.smi-spec.io/v1alpha2",
      "kind: TrafficSplit",
      "metadata: { name: bad-split, namespace: bookwarehouse }",
      "spec:",
      "  service: bookwarehouse",
      "  backends: [{ service: bookwarehouse-v1, weight: -1 }]",
      "---",
      "apiVersion: access.smi-spec.io/v1alpha3",
      "kind: TrafficTarget",
      "metadata: { name: dangling, namespace: bookstore }",
      "spec:",
      "  destination: { kind: ServiceAccount, name: bookstore-v1 }",
      "  sources: [{ kind: ServiceAccount, name: bookthief, namespace: bookthief }]",
      "  rules: [{ kind: HTTPRouteGroup, name: no-such-group }]",
      "---",
      "apiVersion: specs.smi-spec.io/v1alpha4",
      "kind: TCPRoute",
      "metadata: { name: redis, namespace: bookstore }",
      "spec: { matches: { ports: [6379] } }",
      "",
    ].join("\n"),
  );
  const s = await change;
  assert.deepEqual(s.tcpRoutes.map((r) => r.name), ["redis", "mysql"]); // sorted by namespace/name: bookstore before bookwarehouse
  assert.equal(s.trafficSplits.length, 1);
  assert.ok(!s.trafficTargets.some((t) => t.name === "dangling"));
  const st = spec.status();
  assert.equal(st.state, "degraded");
  assert.deepEqual(spec.errors().map((e) => e.code), ["MESHFED_SMI_INVALID_WEIGHT", "MESHFED_SMI_MISSING_ROUTE"]);
  assert.equal(spec.errors()[0]?.file, join(dir, "more.yaml"));
  assert.equal(spec.errors()[0]?.line, 6);
  assert.equal(spec.errors()[1]?.line, 8);
  assert.equal(st.lastError?.code, "MESHFED_SMI_INVALID_WEIGHT");
  assert.equal(st.counts.errors, 2);
  const missing = (await metrics.providerErrors.get()).values.find((v) => v.labels.code === "MESHFED_SMI_MISSING_ROUTE");
  assert.equal(missing?.value, 1);

  const back = nextChange(spec);
  await rm(join(dir, "more.yaml"));
  assert.deepEqual((await back).tcpRoutes.map((r) => r.name), ["mysql"]);
  assert.equal(spec.status().state, "synced");
  assert.deepEqual(spec.errors(), []);
});

test("start() rejects on a missing directory or a YAML error; an empty directory is an empty spec", async (t) => {
  const root = await mkdtemp(join(tmpdir(), "meshfed-smi-"));
  t.after(() => rm(root, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 }));
  const ac = new AbortController();
  t.after(() => ac.abort());
  await assert.rejects(new FileMeshSpec({ dir: join(root, "nope"), logger: silentLogger() }).start(ac.signal), { code: "MESHFED_SMI_DIR_NOT_FOUND" });
  await writeFile(join(root, "a.yaml"), "kind: [\n");
  await assert.rejects(new FileMeshSpec({ dir: root, logger: silentLogger() }).start(ac.signal), { code: "MESHFED_SMI_YAML" });
  await rm(join(root, "a.yaml"));
  const empty = new FileMeshSpec({ dir: root, logger: silentLogger() });
  await empty.start(ac.signal);
  assert.equal(empty.status().state, "synced");
  assert.equal(empty.trafficTargets().length, 0);
});
