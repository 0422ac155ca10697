import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { toServed } from "../../src/agent/config-version.js";
import { PipyRunTracker } from "../../src/agent/repo/pipy-run.js";
import { LocalRepo } from "../../src/agent/repo/server.js";
import { PipySupervisor, proxyVersion } from "../../src/agent/supervisor.js";
import { silentLogger } from "../../src/common/logger.js";
import { captureLogger } from "../helpers/certificates.js";
import { writeFakePipy } from "../helpers/agent-fake-pipy.js";
import { tempDir } from "../helpers/temp-dir.js";
import { scaled, waitFor } from "../helpers/wait.js";

async function setup(t: TestContext, env: Record<string, string>, stopGraceMs = 5000) {
  const dir = await tempDir("meshfed-agent-");
  const pipy = await writeFakePipy(dir);
  const events = join(dir, "events");
  const tracker = new PipyRunTracker();
  const repo = await LocalRepo.listen({ address: { host: "127.0.0.1", port: 0 }, tracker, logger: silentLogger(), status: () => ({}) });
  t.after(() => repo.close());
  repo.serve(toServed({ version: 1, driver: "json", hash: "h", files: [{ path: "/main.js", content: Buffer.from("pipy()") }] }));
  const { logger, lines } = captureLogger();
  for (const [k, v] of Object.entries({ FAKE_PIPY_EVENTS: events, FAKE_PIPY_POLL_MS: "100", ...env })) process.env[k] = v;
  t.after(() => {
    for (const k of Object.keys(env)) delete process.env[k];
  });
  const sup = new PipySupervisor({ pipy, args: [repo.url, "--admin-port=127.0.0.1:0", "--instance-uuid=proxy-1"], logger, stopGraceMs, restartBaseMs: 50, restartCapMs: 100, stableAfterMs: 60_000 });
  t.after(() => sup.close());
  const readEvents = async () => (await readFile(events, "utf8").catch(() => "")).split("\n").filter((l) => l !== "");
  return { sup, tracker, repo, lines, readEvents, pipy };
}

test("supervisor restarts Pipy with backoff when it crashes, and forwards its output", async (t) => {
  const { sup, lines, readEvents } = await setup(t, { FAKE_PIPY_CRASH_MS: "150" });
  sup.start();
  await waitFor(async () => (await readEvents()).filter((e) => e.startsWith("start ")).length >= 3, { what: "three starts", timeoutMs: 30_000 });
  assert.ok(sup.starts >= 3);
  const pipyLines = lines.filter((l) => l.component === "pipy");
  assert.ok(pipyLines.some((l) => /crashing on purpose/.test(String(l.msg)) && l.stream === "stderr"), "stderr forwarded");
  assert.ok(pipyLines.some((l) => /\[fake-pipy\] started/.test(String(l.msg)) && l.stream === "stdout"), "stdout forwarded");
  assert.ok(lines.some((l) => l.component === "supervisor" && l.msg === "pipy exited; restarting" && l.exitCode === 3));
  assert.match(sup.lastError() ?? "", /crashing on purpose/);
  await sup.close();
  assert.equal(sup.state, "stopped");
});

test("stop sends SIGINT and Pipy drains and exits by itself", async (t) => {
  // A grace far above the 100 ms drain: "exits by itself" is shown by the exit
  // (no SIGKILL), not by how fast close() returned on this machine.
  const { sup, tracker, readEvents } = await setup(t, { FAKE_PIPY_DRAIN_MS: "100" }, scaled(30_000));
  const exits: Array<NodeJS.Signals | null> = [];
  sup.onExit((e) => exits.push(e.signal));
  sup.start();
  await waitFor(() => tracker.runningEtag !== undefined, { what: "fake pipy running (status POSTed)", timeoutMs: 10_000 });
  assert.equal(sup.state, "running");
  await sup.close();
  assert.deepEqual(exits, [null], "exited by itself, not SIGKILLed");
  const events = await readEvents();
  assert.ok(events.includes("sigint"));
  assert.equal(sup.pid, undefined);
});

test("a Pipy that ignores SIGINT is SIGKILLed after the grace period", async (t) => {
  const { sup, readEvents } = await setup(t, { FAKE_PIPY_IGNORE_SIGINT: "1" }, 300);
  const exits: Array<NodeJS.Signals | null> = [];
  sup.onExit((e) => exits.push(e.signal));
  sup.start();
  await waitFor(async () => (await readEvents()).some((e) => e.startsWith("start ")), { what: "started", timeoutMs: 10_000 });
  const started = Date.now();
  await sup.close();
  const took = Date.now() - started;
  // The lower bound is the grace honoured; no upper bound (that would be a
  // statement about this machine's speed): the SIGKILL below shows it ended.
  assert.ok(took >= 280, `took ${took} ms; events ${JSON.stringify(await readEvents())} exits ${JSON.stringify(exits)}`);
  assert.ok((await readEvents()).includes("sigint"), "SIGINT came first");
  assert.deepEqual(exits, ["SIGKILL"]);
});

test("a missing binary is retried with backoff, not a crash of the agent", async (t) => {
  const { logger, lines } = captureLogger();
  const sup = new PipySupervisor({ pipy: "/nonexistent/pipy", args: [], logger, stopGraceMs: 100, restartBaseMs: 10, restartCapMs: 20 });
  t.after(() => sup.close());
  sup.start();
  await waitFor(() => sup.starts >= 3, { what: "retries", timeoutMs: 5000 });
  assert.ok(lines.some((l) => l.msg === "pipy could not be started"));
  await sup.close();
  assert.equal(await proxyVersion("/nonexistent/pipy"), "");
});

test("proxyVersion reads `pipy --version`", async () => {
  const dir = await tempDir("meshfed-agent-");
  assert.equal(await proxyVersion(await writeFakePipy(dir)), "0.0.0-fake");
});
