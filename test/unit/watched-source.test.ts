// The lifecycle shared by the hosts file and the SMI directory
// (controller/watched-source.ts), driven through reload() with a scripted
// read, so that no case depends on file-system event timing.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MeshfedError } from "../../src/common/errors.js";
import { silentLogger } from "../../src/common/logger.js";
import { WatchedSource, type Applied, type ReadPhase, type WatchedRead } from "../../src/controller/watched-source.js";

const bad = (code: string): WatchedRead<number> => ({ ok: false, errors: [new MeshfedError(code, code)] });
const good = (value: number): WatchedRead<number> => ({ ok: true, value });

async function setup(t: { after: (fn: () => Promise<void>) => void }, reads: (() => Promise<WatchedRead<number>>)[]) {
  const dir = await mkdtemp(join(tmpdir(), "meshfed-watched-"));
  const file = join(dir, "input.yaml");
  await writeFile(file, "x");
  const ac = new AbortController();
  t.after(async () => {
    ac.abort();
    await rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
  });
  const applied: number[] = [];
  const rejected: { codes: string[]; phase: ReadPhase }[] = [];
  const announced: { value: number; state: string }[] = [];
  const source: WatchedSource<number> = new WatchedSource<number>({
    path: file,
    kind: "file",
    what: "the test source",
    logger: silentLogger(),
    // No poll and a long debounce: only the test's reload() calls read.
    timing: { pollMs: 0, debounceMs: 60_000 },
    read: () => {
      const next = reads.shift();
      assert.ok(next, "more reads than scripted");
      return next();
    },
    apply: (value): Applied => {
      applied.push(value);
      return { state: value < 0 ? "degraded" : "synced", announce: () => announced.push({ value, state: source.state }) };
    },
    reject: (errors, phase) => rejected.push({ codes: errors.map((e) => e.code), phase }),
  });
  return { source, ac, applied, rejected, announced };
}

test("a failed first read rejects start() with its first error and leaves the source stopped", async (t) => {
  const two: WatchedRead<number> = { ok: false, errors: [new MeshfedError("MESHFED_A", "a"), new MeshfedError("MESHFED_B", "b")] };
  const { source, ac, applied, rejected } = await setup(t, [async () => two]);
  await assert.rejects(source.start(ac.signal), { code: "MESHFED_A" });
  assert.equal(source.state, "stopped");
  assert.equal(source.lastSync, null);
  assert.deepEqual(rejected, [{ codes: ["MESHFED_A", "MESHFED_B"], phase: "start" }]);
  assert.deepEqual(applied, []);
  await assert.rejects(source.start(ac.signal), { code: "MESHFED_PROVIDER_STARTED" });
});

test("start applies without announcing; a failed reload keeps the last good input, degraded; a good one announces after the state is set", async (t) => {
  const { source, ac, applied, rejected, announced } = await setup(t, [async () => good(1), async () => bad("MESHFED_X"), async () => good(2), async () => good(-3)]);
  await source.start(ac.signal);
  assert.equal(source.state, "synced");
  const firstSync = source.lastSync;
  assert.ok(firstSync !== null);
  assert.deepEqual(announced, []);
  await source.reload();
  assert.equal(source.state, "degraded");
  assert.equal(source.lastSync, firstSync);
  assert.deepEqual(rejected, [{ codes: ["MESHFED_X"], phase: "reload" }]);
  await source.reload();
  await source.reload();
  assert.deepEqual(applied, [1, 2, -3]);
  // The announcement sees the state its read left: a listener asking for status gets the new one.
  assert.deepEqual(announced, [
    { value: 2, state: "synced" },
    { value: -3, state: "degraded" },
  ]);
  await assert.rejects(source.start(ac.signal), { code: "MESHFED_PROVIDER_STARTED" });
});

test("reloads run one at a time in call order: a slow older read never lands after a newer one", async (t) => {
  let releaseSlow: () => void = () => undefined;
  const slow = new Promise<void>((resolve) => (releaseSlow = resolve));
  const { source, ac, applied } = await setup(t, [
    async () => good(1),
    async () => {
      await slow;
      return good(2);
    },
    async () => good(3),
  ]);
  await source.start(ac.signal);
  const first = source.reload();
  const second = source.reload();
  releaseSlow();
  await Promise.all([first, second]);
  assert.deepEqual(applied, [1, 2, 3]);
});

test("a stop while a reload reads applies nothing and leaves the source stopped", async (t) => {
  let releaseRead: () => void = () => undefined;
  const reading = new Promise<void>((resolve) => (releaseRead = resolve));
  let readStarted: () => void = () => undefined;
  const started = new Promise<void>((resolve) => (readStarted = resolve));
  const { source, ac, applied, announced } = await setup(t, [
    async () => good(1),
    async () => {
      readStarted();
      await reading;
      return good(2);
    },
  ]);
  await source.start(ac.signal);
  const reload = source.reload();
  await started;
  ac.abort();
  releaseRead();
  await reload;
  assert.equal(source.state, "stopped");
  assert.deepEqual(applied, [1]);
  assert.deepEqual(announced, []);
  // Stopped for good: a later reload reads nothing (a read beyond the script would fail the test).
  await source.reload();
});
