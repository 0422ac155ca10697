// The agent's side of content-addressed files (issue 17): it says in Hello
// that it keeps shared files by hash, keeps a file sent in full with its
// sha256, resolves references from disk, and never serves bytes that do not
// hash to their name: a corrupted cached file is NACKed, deleted, and fetched
// in full again over a new stream whose Hello no longer lists it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm, stat, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FileCache, MAX_CACHED_FILES } from "../../src/agent/file-cache.js";
import { silentLogger } from "../../src/common/logger.js";
import { connectedAgent } from "../helpers/agent-connected.js";
import { http } from "../helpers/agent-testbed.js";
import { waitFor } from "../helpers/wait.js";

const LIB = Buffer.from("export default function lib() { return 42 }\n");
const LIB_SHA = createHash("sha256").update(LIB).digest("hex");

function config(version: number, lib: "full" | "reference" | Buffer, own = `{"v":${version}}`) {
  const shared = lib === "reference"
    ? { path: "/lib.js", sha256: LIB_SHA, byReference: true }
    : { path: "/lib.js", content: lib === "full" ? LIB : lib, sha256: LIB_SHA };
  return { config: { version, driver: "json", hash: `hash-${version}`, files: [{ path: "/config.json", content: Buffer.from(own) }, shared] } };
}

type Ack = { version: number; ok: boolean; error: string };
const ackOf = (version: number) => (m: { ack?: Ack | null }) => (m.ack && m.ack.version === version ? m.ack : undefined);

test("Hello says FileCache; a shared file sent in full is kept by hash, a reference is served from disk", async (t) => {
  const { session, config: cfg, agent } = await connectedAgent(t);
  const hello = await session.next((m) => m.hello ?? undefined);
  assert.deepEqual({ supported: hello.fileCache?.supported, sha256: hello.fileCache?.sha256 }, { supported: true, sha256: [] });

  session.send(config(1, "full"));
  assert.equal((await session.next(ackOf(1))).ok, true);
  const cached = join(cfg.dataDir, "files", LIB_SHA);
  assert.deepEqual(await readFile(cached), LIB);
  assert.equal((await stat(cached)).mode & 0o777, 0o600);

  session.send(config(2, "reference"));
  const ack = await session.next(ackOf(2));
  assert.equal(ack.ok, true, ack.error);
  assert.equal((await http(`${agent.repoUrl.replace(/\/$/, "")}/lib.js`)).body, LIB.toString());
  const good = JSON.parse(await readFile(join(cfg.dataDir, "config", "good.json"), "utf8")) as { version: number; files: Array<{ path: string; content: string }> };
  assert.equal(good.version, 2);
  assert.equal(Buffer.from(good.files.find((f) => f.path === "/lib.js")!.content, "base64").toString(), LIB.toString());
});

test("a cached file corrupted on disk is never served: NACK MESHFED_AGENT_FILE_MISSING, deleted, and the next Hello no longer lists it", async (t) => {
  const { session, ctl, config: cfg, agent } = await connectedAgent(t);
  session.send(config(1, "full"));
  assert.equal((await session.next(ackOf(1))).ok, true);
  const cached = join(cfg.dataDir, "files", LIB_SHA);
  await writeFile(cached, "export default function lib() { return 666 }\n");

  session.send(config(2, "reference"));
  const nack = await session.next(ackOf(2));
  assert.equal(nack.ok, false);
  assert.match(nack.error, /MESHFED_AGENT_FILE_MISSING|not in the agent's cache/);
  await assert.rejects(stat(cached), "the corrupted copy is deleted");
  // Still serving version 1, the last good one, with the right bytes.
  assert.equal((await http(`${agent.repoUrl.replace(/\/$/, "")}/lib.js`)).body, LIB.toString());

  const second = await ctl.waitForSession(2);
  const hello = await second.next((m) => m.hello ?? undefined);
  assert.deepEqual(hello.fileCache?.sha256, [], "a Hello after the NACK lists only what the cache really holds");
  assert.equal(hello.configVersion, 1);
  second.send(config(3, "full"));
  assert.equal((await second.next(ackOf(3))).ok, true);
  await waitFor(async () => (await readFile(cached).catch(() => Buffer.alloc(0))).equals(LIB), { what: "fetched again and kept", timeoutMs: 5000 });
});

test("a shared file whose bytes do not hash to the sha256 sent with it is NACKed and not kept", async (t) => {
  const { session, config: cfg } = await connectedAgent(t);
  session.send(config(1, Buffer.from("something else\n")));
  const nack = await session.next(ackOf(1));
  assert.equal(nack.ok, false);
  assert.match(nack.error, /hashes to/);
  await assert.rejects(stat(join(cfg.dataDir, "files", LIB_SHA)));
  await assert.rejects(stat(join(cfg.dataDir, "config", "received.json")), "nothing of it is stored");
});

test("the cache prunes least recently used: a file referenced again outlives files sent in full after it", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "mfvw-files-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const cache = new FileCache(dir, silentLogger());
  const blobs = Array.from({ length: MAX_CACHED_FILES }, (_, i) => Buffer.from(`shared file ${i}\n`));
  const shas = blobs.map((b) => createHash("sha256").update(b).digest("hex"));
  for (const [i, b] of blobs.entries()) {
    await cache.put(shas[i]!, b);
    // Explicit ages (file 0 oldest), so the order does not depend on the file system's timestamp resolution.
    await utimes(join(dir, shas[i]!), 1_000_000 + i, 1_000_000 + i);
  }
  assert.deepEqual(await cache.get(shas[0]!), blobs[0], "the oldest, used again (as a reference would)");
  const extra = Buffer.from("one more\n");
  const extraSha = createHash("sha256").update(extra).digest("hex");
  await cache.put(extraSha, extra);
  const listed = await cache.list();
  assert.equal(listed.length, MAX_CACHED_FILES);
  assert.ok(listed.includes(shas[0]!), "the used file stayed");
  assert.ok(!listed.includes(shas[1]!), "the least recently used one went");
  assert.equal(await cache.get(shas[1]!), undefined);
});
