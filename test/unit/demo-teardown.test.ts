import { test } from "node:test";
import assert from "node:assert/strict";
import { silentLogger } from "../../src/common/logger.js";
import { Teardown } from "../../src/cli/demo/teardown.js";
import { checkNetnsPrefix } from "../../src/cli/demo/preflight.js";

test("demo teardown: undoes in reverse order once, a failed step does not stop the later ones, and a step added after close() began runs at once", async () => {
  const done: string[] = [];
  const teardown = new Teardown(silentLogger());
  await teardown.add("namespaces", async () => done.push("namespaces"));
  await teardown.add("broken", async () => { throw new Error("boom"); });
  await teardown.add("agents", async () => done.push("agents"));
  assert.equal(teardown.closing, false);
  const closing = teardown.close();
  assert.equal(teardown.closing, true);
  assert.equal(teardown.close(), closing, "close() is idempotent: the same promise");
  await closing;
  assert.deepEqual(done, ["agents", "namespaces"]);
  // A start that was interrupted goes on creating things for a moment: each is undone as it appears.
  await teardown.add("late relay", async () => done.push("late relay"));
  assert.deepEqual(done, ["agents", "namespaces", "late relay"]);
  await teardown.close();
  assert.deepEqual(done, ["agents", "namespaces", "late relay"], "nothing runs twice");
});

test("demo netns prefix: plain short names pass, anything ip or a path could misread is a named error", () => {
  for (const ok of ["meshfed-demo-", "mfdemo1a2b-", "x"]) assert.equal(checkNetnsPrefix(ok), ok);
  for (const bad of ["", "-lead", "../etc", "with space", "UPPER", "a".repeat(25)]) {
    assert.throws(() => checkNetnsPrefix(bad), { code: "MESHFED_DEMO_BAD_NETNS_PREFIX" }, bad);
  }
});
