import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, readdir, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { DataDir } from "../../src/agent/data-dir.js";
import { FileStore } from "../../src/controller/store/file-store.js";
import { tempDir } from "../helpers/temp-dir.js";

/** Leaves what a SIGKILL during writeFileAtomic leaves: a dot temp file, here `ageMs` old. */
async function crashedWrite(dir: string, name: string, ageMs: number): Promise<string> {
  const tmp = `.${name}.0123456789ab.tmp`;
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, tmp), "half a rec");
  const at = new Date(Date.now() - ageMs);
  await utimes(join(dir, tmp), at, at);
  return tmp;
}

test("opening a file store or an agent data dir sweeps temp files of crashed writes, but not fresh ones", async () => {
  const dir = await tempDir("meshfed-temp-");
  const cases = [
    { root: join(dir, "controller"), sub: "certificates", open: (root: string) => FileStore.open(root) },
    { root: join(dir, "agent"), sub: "service", open: (root: string) => new DataDir(root).init() },
  ];
  for (const c of cases) {
    const sub = join(c.root, c.sub);
    const stale = await crashedWrite(sub, "a", 3_600_000);
    const fresh = await crashedWrite(sub, "b", 0); // a write in progress elsewhere
    await writeFile(join(sub, "data"), "kept");
    await writeFile(join(sub, ".hidden"), "not ours"); // not our temp name pattern
    await c.open(c.root);
    const left = (await readdir(sub)).sort();
    assert.ok(!left.includes(stale), `${c.sub}: the stale temp file is gone`);
    assert.deepEqual(left, [".hidden", fresh, "data"].sort(), c.sub);
  }
});
