import assert from "node:assert/strict";
import { test } from "node:test";
import { MeshfedError } from "../../src/common/errors.js";
import { Closer, StartSequence } from "../../src/common/lifecycle.js";

/** A part that records what was asked of it; `hang` keeps its close() open until destroyed. */
function part(name: string, log: string[], o: { fail?: boolean; hang?: boolean } = {}) {
  let release: (() => void) | undefined;
  return {
    name,
    close: (): Promise<void> => {
      log.push(`close ${name}`);
      if (o.fail) return Promise.reject(new Error(`${name} broke`));
      if (o.hang) return new Promise<void>((resolve) => (release = resolve));
      return Promise.resolve();
    },
    destroy: (err?: Error): void => {
      log.push(`destroy ${name}${err ? ` (${err.message})` : ""}`);
      release?.();
    },
  };
}

test("close: last in, first out, once, however often it is called", async () => {
  const log: string[] = [];
  const closer = new Closer({ closeTimeoutMs: 5_000 });
  for (const n of ["store", "admin", "grpc"]) closer.add(part(n, log));
  const [a, b] = [closer.close(), closer.close()];
  assert.equal(a, b);
  assert.deepEqual(await a, { failed: [] });
  assert.deepEqual(log, ["close grpc", "close admin", "close store"]);
  assert.deepEqual(closer.names(), ["store", "admin", "grpc"]);
});

test("close: a part that fails or hangs is named in the report, destroyed, and does not stop the others", async () => {
  const log: string[] = [];
  const closer = new Closer({ closeTimeoutMs: 5_000 });
  closer.add(part("store", log));
  closer.add({ ...part("watcher", log, { hang: true }), closeTimeoutMs: 50 });
  closer.add(part("admin", log, { fail: true }));
  const report = await closer.close();
  assert.deepEqual(report.failed.map((f) => [f.part, f.timedOut]), [["admin", false], ["watcher", true]]);
  assert.equal((report.failed[1]!.error as MeshfedError).code, "MESHFED_CLOSE_TIMEOUT");
  assert.deepEqual(log, ["close admin", "destroy admin (admin broke)", "close watcher", "destroy watcher (watcher did not close within 50 ms)", "close store"]);
});

test("destroy: cuts a close short, destroys the rest last in first out, and the pending close resolves", async () => {
  const log: string[] = [];
  const closer = new Closer({ closeTimeoutMs: 60_000 });
  closer.add(part("store", log));
  closer.add(part("admin", log));
  closer.add(part("grpc", log, { hang: true }));
  const closing = closer.close();
  const boom = new Error("second signal");
  await Promise.all([closer.destroy(boom), closer.destroy()]);
  await closing;
  assert.deepEqual(log, ["close grpc", "destroy grpc (second signal)", "destroy admin (second signal)", "destroy store (second signal)"]);
});

test("a part added after closing began is closed too", async () => {
  const log: string[] = [];
  const closer = new Closer({ closeTimeoutMs: 5_000 });
  closer.add(part("a", log));
  await closer.close();
  closer.add(part("late", log));
  const deadline = Date.now() + 5_000;
  while (!log.includes("close late") && Date.now() < deadline) await new Promise((r) => setImmediate(r));
  assert.deepEqual(log, ["close a", "close late"]);
});

test("waiting: the parts that wait for a first sync and have not had it, by readiness id", () => {
  const closer = new Closer({ closeTimeoutMs: 1_000 });
  let synced = false;
  closer.add({ name: "source:onprem", readinessId: "onprem", ready: () => synced, close: () => undefined });
  closer.add({ name: "admin", close: () => undefined });
  assert.deepEqual(closer.waiting(), ["onprem"]);
  synced = true;
  assert.deepEqual(closer.waiting(), []);
});

test("StartSequence: a failed step names the part, keeps a MeshfedError's code, and failAt injects a failure", async () => {
  const steps: string[] = [];
  const seq = new StartSequence({ failAt: "admin", observe: (s) => steps.push(s) });
  assert.equal(await seq.step("store", () => 1), 1);
  await assert.rejects(seq.step("admin", () => 2), (err: MeshfedError) => err.code === "MESHFED_START_INJECTED" && err.details.part === "admin" && err.message.startsWith("admin: "));
  const plain = new StartSequence();
  await assert.rejects(plain.step("grpc", () => { throw Object.assign(new Error("listen EADDRINUSE"), { code: "EADDRINUSE" }); }),
    (err: MeshfedError) => err.code === "MESHFED_START_FAILED" && err.details.part === "grpc" && /^grpc: listen EADDRINUSE/.test(err.message));
  await assert.rejects(plain.step("repo", () => { throw new MeshfedError("MESHFED_X", "bad", { details: { file: "f" } }); }),
    (err: MeshfedError) => err.code === "MESHFED_X" && err.details.part === "repo" && err.details.file === "f");
  assert.deepEqual(steps, ["store", "admin"]);
});
