// The suite's leftover check (test/suite/leftovers.ts): what it must see, so
// that a test that leaves a directory, a process, a namespace or a rule fails
// `npm test`.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describeLeftovers, isClean, leftovers, processesUsing, type HostSnapshot } from "../suite/leftovers.js";
import { waitFor } from "../helpers/wait.js";

const host = (namespaces: string[] | null, natRules: string[] | null): HostSnapshot => ({
  namespaces: namespaces === null ? null : new Set(namespaces), natRules: natRules === null ? null : new Set(natRules),
});

test("leftovers: entries of the private temp dir, and only the namespaces and nat rules the run added", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "meshfed-leftovers-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const clean = leftovers(dir, host(["a"], ["-A OUTPUT -j MESHFED_OLD"]), host(["a"], ["-A OUTPUT -j MESHFED_OLD"]));
  assert.ok(isClean(clean), JSON.stringify(clean));

  await mkdir(join(dir, "meshfed-cp-x"));
  await writeFile(join(dir, "stray"), "");
  const found = leftovers(dir, host(["a"], ["-A OUTPUT -j MESHFED_OLD"]), host(["a", "mf-test-1"], ["-A OUTPUT -j MESHFED_OLD", "-A OUTPUT -j MESHFED_NEW"]));
  assert.deepEqual(found.entries, ["meshfed-cp-x", "stray"]);
  assert.deepEqual(found.namespaces, ["mf-test-1"]);
  assert.deepEqual(found.natRules, ["-A OUTPUT -j MESHFED_NEW"]);
  assert.equal(isClean(found), false);
  const lines = describeLeftovers(found);
  assert.ok(lines.includes("temp entry: meshfed-cp-x"));
  assert.ok(lines.some((l) => l.startsWith("network namespace: mf-test-1")));

  // A host where a tool is not usable (null) adds nothing, either side.
  assert.deepEqual(leftovers(dir, host(null, null), host(["b"], ["x MESHFED"])).namespaces, []);
  assert.deepEqual(leftovers(dir, host(["b"], ["x MESHFED"]), host(null, null)).natRules, []);
});

test("leftovers: a process with the directory in its command line is found until it exits", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "meshfed-leftovers-proc-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const child = spawn(process.execPath, ["-e", "setTimeout(() => {}, 60_000)", join(dir, "pid")], { stdio: "ignore" });
  t.after(() => void child.kill("SIGKILL"));
  const seen = await waitFor(() => processesUsing(dir).find((p) => p.pid === child.pid), { what: "the child in /proc", timeoutMs: 10_000 });
  assert.match(seen.command, /setTimeout/);
  assert.equal(leftovers(dir, host([], []), host([], [])).processes.length, 1);
  child.kill("SIGKILL");
  await waitFor(() => (processesUsing(dir).length === 0 ? true : undefined), { what: "the child gone from /proc", timeoutMs: 10_000 });
});
