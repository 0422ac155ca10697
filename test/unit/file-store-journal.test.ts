// Issue 17: the file store commits writes in groups through a journal
// (src/controller/store/file-journal.ts). Concurrent writes share one
// fdatasync and still decide create/compareAndPut in order; what a crash left
// in the journal is replayed at open; a cut or corrupt tail is not data.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { decodeEntries, encodeEntries, JOURNAL_FILE } from "../../src/controller/store/file-journal.js";
import { FileStore } from "../../src/controller/store/file-store.js";
import { tempDir } from "../helpers/temp-dir.js";

test("concurrent writes share group commits, decided in call order", async () => {
  const dir = await tempDir("meshfed-journal-");
  const store = await FileStore.open(dir);
  const results = await Promise.all([
    ...Array.from({ length: 200 }, (_, i) => store.create(`certificates/c${i}`, `{"n":${i}}`)),
    store.create("tokens/one", "first"),
    store.create("tokens/one", "second"),
  ]);
  assert.deepEqual(results.slice(0, 200), Array(200).fill(true));
  assert.deepEqual(results.slice(200), [true, false], "the second create of one key in the same batch sees the first");
  assert.equal(Buffer.from((await store.get("tokens/one"))!).toString(), "first");
  const stats = store.commitStats;
  assert.equal(stats.writes, 201);
  assert.ok(stats.commits < 20, `201 concurrent writes took ${stats.commits} commits`);
  const cas = await Promise.all([
    store.compareAndPut("tokens/one", Buffer.from("first"), "a"),
    store.compareAndPut("tokens/one", Buffer.from("first"), "b"),
  ]);
  assert.deepEqual(cas, [true, false], "one compare-and-put of two on the same bytes wins");
  assert.equal((await stat(join(dir, JOURNAL_FILE))).mode & 0o777, 0o600, "the journal holds secrets: 0600");
  await store.close();
});

test("a journal left by a crash is replayed at open, and its cut tail ignored", async () => {
  const dir = await tempDir("meshfed-journal-");
  const first = await FileStore.open(dir);
  await first.put("tokens/a", "old");
  await first.put("tokens/gone", "x");
  await first.close();
  // What a process killed after its fdatasync, before applying, leaves behind; then a batch cut mid-line.
  const committed = encodeEntries([
    { key: "tokens/a", value: Buffer.from("new"), secret: true },
    { key: "certificates/b", value: Buffer.from("{}"), secret: false },
    { key: "tokens/gone", value: undefined, secret: false },
  ]);
  const cut = encodeEntries([{ key: "tokens/c", value: Buffer.from("never acknowledged"), secret: false }]);
  await writeFile(join(dir, JOURNAL_FILE), Buffer.concat([committed, cut.subarray(0, cut.length - 5)]));
  const store = await FileStore.open(dir);
  assert.equal(Buffer.from((await store.get("tokens/a"))!).toString(), "new");
  assert.equal((await stat(join(dir, "tokens", "a"))).mode & 0o777, 0o600, "a secret is replayed with mode 0600");
  assert.equal(Buffer.from((await store.get("certificates/b"))!).toString(), "{}");
  assert.equal(await store.get("tokens/gone"), undefined, "a deletion is replayed");
  assert.equal(await store.get("tokens/c"), undefined, "a cut line is not data");
  await assert.rejects(readFile(join(dir, JOURNAL_FILE)), { code: "ENOENT" }, "the replayed journal is removed");
  await store.close();
});

test("decoding stops at the first line whose checksum does not match", () => {
  const bytes = encodeEntries([
    { key: "a/b", value: Buffer.from("1"), secret: false },
    { key: "a/c", value: Buffer.from("2"), secret: false },
    { key: "a/d", value: Buffer.from("3"), secret: false },
  ]);
  const text = bytes.toString("utf8").split("\n");
  text[1] = text[1]!.replace('"a/c"', '"a/x"');
  assert.deepEqual(decodeEntries(Buffer.from(text.join("\n"))).map((e) => e.key), ["a/b"]);
  assert.deepEqual(decodeEntries(bytes).map((e) => e.key), ["a/b", "a/c", "a/d"]);
});
