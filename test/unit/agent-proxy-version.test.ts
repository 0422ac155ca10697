// Pipy 1.5.18 sometimes prints its version and then hangs (issue 23): the
// agent takes the version as soon as it is printed and kills the child.
import { test } from "node:test";
import assert from "node:assert/strict";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { proxyVersion } from "../../src/agent/supervisor.js";

async function fakePipy(t: { after(fn: () => unknown): void }, script: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "meshfed-pipy-version-"));
  t.after(() => rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 }));
  const bin = join(dir, "pipy");
  await writeFile(bin, `#!/bin/sh\n${script}\n`);
  await chmod(bin, 0o755);
  return bin;
}

test("a pipy that prints its version and then hangs still gives the version (the 5 s bound would give \"\")", async (t) => {
  const bin = await fakePipy(t, `echo "Version          : 1.5.18"\necho "Commit           : abc"\nexec sleep 600`);
  assert.equal(await proxyVersion(bin), "1.5.18");
});

test("a pipy that exits normally gives its version; a missing binary gives \"\"", async (t) => {
  const bin = await fakePipy(t, `echo "Version          : 1.5.17"\nexit 0`);
  assert.equal(await proxyVersion(bin), "1.5.17");
  assert.equal(await proxyVersion(join(tmpdir(), "no-such-pipy-binary")), "");
});
