// Issue 9, part 5: SIGKILL at random points while tokens are consumed,
// certificates issued, claimed, revoked and renewed, and the agent writes its
// certificates and config; after every kill the data directory is re-opened
// with the real components and checked (test/helpers/crash-ledger.ts).
// MESHFED_TEST_SEED=<seed> replays the kill schedule and the worker's
// choices (I/O interleaving still varies); MESHFED_CRASH_ITERATIONS changes
// the count; MESHFED_CRASH_DEBUG=1 prints each kill point.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcessByStdio } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable, Writable } from "node:stream";
import { fileURLToPath } from "node:url";
import { CrashLedger } from "../helpers/crash-ledger.js";
import { seededRandom, testSeed } from "../helpers/seeded-random.js";
import { scaled } from "../helpers/wait.js";

const WORKER = fileURLToPath(new URL("../helpers/crash-worker.js", import.meta.url));
const ITERATIONS = Number(process.env.MESHFED_CRASH_ITERATIONS ?? 100);

/** Workers started ahead of time (see crash-worker.ts), so that their start-up overlaps the previous iteration. */
const SPARE_WORKERS = 2;

function spawnWorker(dir: string): ChildProcessByStdio<Writable, Readable, Readable> {
  return spawn(process.execPath, [WORKER, dir], { stdio: ["pipe", "pipe", "pipe"] });
}

/**
 * A kill point: `beforeReadyMs` after "go" (during CA creation and loading),
 * or `jitterMs` after the worker reported `afterLines` completed operations.
 * Counting lines rather than milliseconds keeps the amount of work between
 * kills the same on a fast laptop and a loaded CI runner; the jitter puts
 * the kill anywhere inside the operations then in flight.
 */
type KillPoint = { readonly beforeReadyMs: number } | { readonly afterLines: number; readonly jitterMs: number };

/** Sends the worker "go", SIGKILLs it at `kill`; whole lines are applied to the ledger as they come. */
async function runWorker(
  child: ChildProcessByStdio<Writable, Readable, Readable>, seed: number, iteration: number, ledger: CrashLedger,
  kill: KillPoint,
): Promise<{ lines: number; ready: boolean }> {
  let buffered = "";
  let lines = 0;
  let ready = false;
  let stderr = "";
  let timer: NodeJS.Timeout | undefined;
  const killNow = () => child.kill("SIGKILL");
  const closed = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on("close", (c, s) => resolve([c, s])));
  child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  child.stdout.setEncoding("utf8").on("data", (d: string) => {
    buffered += d;
    // Only whole lines: a line cut by the kill reports nothing.
    for (let nl = buffered.indexOf("\n"); nl >= 0; nl = buffered.indexOf("\n")) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      lines++;
      ledger.apply(line);
      if (line === "ready") ready = true;
      // "ready" is line 1: afterLines 0 kills as the work starts.
      if ("afterLines" in kill && lines === kill.afterLines + 1) timer = setTimeout(killNow, kill.jitterMs);
    }
  });
  child.stdin.end(`go ${seed} ${iteration}\n`);
  if ("beforeReadyMs" in kill) timer = setTimeout(killNow, kill.beforeReadyMs);
  const [code, signal] = await closed;
  clearTimeout(timer);
  assert.equal(signal, "SIGKILL", `iteration ${iteration}: the worker died on its own (exit ${code}):\n${stderr.slice(-3000)}`);
  return { lines, ready };
}

test(`SIGKILL at random points ${ITERATIONS} times loses no certificate, no token use, no file`, { timeout: scaled(540_000) }, async (t) => {
  const seed = testSeed();
  t.diagnostic(`seed ${seed} (replay with MESHFED_TEST_SEED=${seed})`);
  const random = seededRandom(seed);
  const dir = await mkdtemp(join(tmpdir(), "meshfed-crash-"));
  t.after(() => rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 }));
  const ledger = new CrashLedger();
  const spares = Array.from({ length: SPARE_WORKERS }, () => spawnWorker(dir));
  t.after(() => {
    for (const w of spares) w.kill("SIGKILL");
  });
  let operations = 0;
  let duringStartup = 0;
  const started = performance.now();
  for (let i = 0; i < ITERATIONS; i++) {
    // One kill in eight lands during start-up (CA creation, loading), the
    // rest after 0–30 operations, where writes of all three lanes are in flight.
    const kill: KillPoint = random() < 0.125
      ? { beforeReadyMs: Math.floor(random() * 100) }
      : { afterLines: Math.floor(random() * 31), jitterMs: Math.floor(random() * 15) };
    const worker = spares.shift()!;
    spares.push(spawnWorker(dir));
    const run = await runWorker(worker, Math.floor(random() * 2 ** 32), i, ledger, kill);
    operations += Math.max(0, run.lines - 1);
    if (process.env.MESHFED_CRASH_DEBUG) t.diagnostic(`iteration ${i}: ${JSON.stringify({ kill, ...run })}`);
    if (!run.ready) duringStartup++;
    await ledger.check(dir, `seed ${seed}, iteration ${i}`);
  }
  assert.ok(ledger.issued.size > ITERATIONS, `the workers got real work done (${ledger.issued.size} certificates)`);
  t.diagnostic(`${ITERATIONS} kills (${duringStartup} during start-up), ${operations} completed operations, ${ledger.issued.size} certificates, ${ledger.tokens.size} tokens, ${ledger.tempFiles} leftover temp files, ${((performance.now() - started) / 1000).toFixed(1)} s`);
});
