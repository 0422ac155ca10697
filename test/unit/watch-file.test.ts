import { test } from "node:test";
import assert from "node:assert/strict";
import { rm, writeFile, rename, mkdir, unlink } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { watchPath } from "../../src/common/watch-file.js";
import { quietPeriod, scaled, waitFor } from "../helpers/wait.js";
import { tempDir } from "../helpers/temp-dir.js";

/** Counts onChange calls and lets a test wait for the next one. */
function counter() {
  let calls = 0;
  let waiters: (() => void)[] = [];
  return {
    onChange: () => {
      calls++;
      const w = waiters;
      waiters = [];
      for (const fn of w) fn();
    },
    get calls() {
      return calls;
    },
    next(timeoutMs = 5000): Promise<void> {
      timeoutMs = scaled(timeoutMs);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no change within ${timeoutMs} ms`)), timeoutMs);
        waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    },
  };
}

/** hosts.yaml (content "a") in a fresh directory, watched with these timings until the test ends. */
async function watchedHostsFile(t: { after: (fn: () => Promise<void> | void) => void }, timing: { debounceMs: number; pollMs: number }) {
  const dir = await tempDir("meshfed-watch-");
  const file = join(dir, "hosts.yaml");
  await writeFile(file, "a");
  const ac = new AbortController();
  t.after(() => ac.abort());
  const c = counter();
  await watchPath(file, { signal: ac.signal, ...timing, onChange: c.onChange });
  return { dir, file, c };
}

function fsWatchHandles(): number {
  return process.getActiveResourcesInfo().filter((r) => r === "FSEventWrap").length;
}

test("a burst of in-place writes gives one debounced call", async (t) => {
  // A debounce far above the burst's length: on a loaded machine 5 writes can take tens of ms.
  const { file, c } = await watchedHostsFile(t, { debounceMs: 400, pollMs: 0 });
  const next = c.next();
  const started = Date.now();
  for (let i = 0; i < 5; i++) await writeFile(file, `a${i}`);
  const burstMs = Date.now() - started;
  await next;
  // Negative check: any second call would come one debounce after the first.
  await quietPeriod(600, "no second call for the burst");
  // The invariant is "writes closer together than the debounce give one call";
  // a machine so loaded that the burst outlasts the debounce may legitimately
  // give more — but never more than one per debounce period the burst spanned.
  if (burstMs < 400) assert.equal(c.calls, 1, `burst took ${burstMs} ms`);
  else assert.ok(c.calls <= 1 + Math.ceil(burstMs / 400), `burst took ${burstMs} ms, ${c.calls} calls`);
});

test("a save by rename (vim, atomic writers) is seen, and later edits too", async (t) => {
  const { dir, file, c } = await watchedHostsFile(t, { debounceMs: 30, pollMs: 0 });
  let next = c.next();
  await writeFile(join(dir, ".hosts.yaml.swp"), "b");
  await rename(join(dir, ".hosts.yaml.swp"), file);
  await next;
  // The original inode is gone; the watcher must still see edits of the new one.
  next = c.next();
  await writeFile(file, "c");
  await next;
  // Other files in the same directory are ignored.
  const before = c.calls;
  await writeFile(join(dir, "other.yaml"), "x");
  await sleep(150);
  assert.equal(c.calls, before);
});

test("a directory watch sees created, edited and deleted entries, filtered by name", async (t) => {
  const dir = await tempDir("meshfed-watch-");
  const smi = join(dir, "smi");
  await mkdir(smi);
  const ac = new AbortController();
  t.after(() => ac.abort());
  const c = counter();
  await watchPath(smi, { signal: ac.signal, debounceMs: 30, pollMs: 0, filter: (n) => n.endsWith(".yaml"), onChange: c.onChange });
  let next = c.next();
  await writeFile(join(smi, "a.yaml"), "x");
  await next;
  next = c.next();
  await unlink(join(smi, "a.yaml"));
  await next;
  const before = c.calls;
  await writeFile(join(smi, "notes.txt"), "x");
  await sleep(150);
  assert.equal(c.calls, before);
});

test("the poll fallback catches a directory removed and recreated", async (t) => {
  const dir = await tempDir("meshfed-watch-");
  const smi = join(dir, "smi");
  await mkdir(smi);
  const ac = new AbortController();
  t.after(() => ac.abort());
  const c = counter();
  await watchPath(smi, { signal: ac.signal, debounceMs: 20, pollMs: 50, onChange: c.onChange });
  await rm(smi, { recursive: true });
  await mkdir(smi);
  await sleep(200);
  const next = c.next();
  await writeFile(join(smi, "a.yaml"), "x");
  await next;
});

test("a poll that sees a change already scheduled leaves the debounce alone: polls faster than the debounce cannot starve it", async (t) => {
  // The poll used to reschedule on every differing signature, and the signature only
  // catches up when the callback runs: with the default 2 s poll a change that a poll
  // met inside its 100 ms debounce was pushed back by up to 100 ms, and a poll faster
  // than the debounce postponed the callback for as long as it kept polling.
  const { file, c } = await watchedHostsFile(t, { debounceMs: 300, pollMs: 10 });
  const next = c.next(5000);
  await writeFile(file, "b");
  await next;
  assert.equal(c.calls, 1);
});

test("onChange calls never overlap", async (t) => {
  const dir = await tempDir("meshfed-watch-");
  const file = join(dir, "f.yaml");
  await writeFile(file, "a");
  const ac = new AbortController();
  t.after(() => ac.abort());
  let running = 0;
  let maxRunning = 0;
  let calls = 0;
  await watchPath(file, {
    signal: ac.signal,
    debounceMs: 5,
    pollMs: 0,
    onChange: async () => {
      calls++;
      running++;
      maxRunning = Math.max(maxRunning, running);
      await sleep(100);
      running--;
    },
  });
  // Writes land while a call is running — waited for, not assumed from a pause
  // a loaded machine can outlast — and the calls that follow never overlap it.
  await writeFile(file, "v0");
  await waitFor(() => running === 1, { what: "the first call running" });
  for (let i = 1; i < 4; i++) await writeFile(file, `v${i}`);
  await waitFor(() => calls >= 2 && running === 0, { what: "a second call after the writes during the first, and both finished" });
  assert.equal(maxRunning, 1);
});

test("aborting releases the fs watcher and stops calls", async () => {
  const dir = await tempDir("meshfed-watch-");
  const file = join(dir, "hosts.yaml");
  await writeFile(file, "a");
  const baseline = fsWatchHandles();
  const ac = new AbortController();
  const c = counter();
  const w = await watchPath(file, { signal: ac.signal, debounceMs: 10, onChange: c.onChange });
  assert.equal(fsWatchHandles(), baseline + 1);
  ac.abort();
  assert.ok(w.closed);
  await sleep(20); // libuv closes the handle on the next loop turn
  assert.equal(fsWatchHandles(), baseline);
  await writeFile(file, "b");
  await sleep(100);
  assert.equal(c.calls, 0);
  w.close(); // idempotent
});
