import { test } from "node:test";
import assert from "node:assert/strict";
import type { JobResult } from "../../src/installer/fleet.js";
import { runFleet } from "../../src/installer/fleet.js";
import { plainProgress, ttyProgress } from "../../src/installer/progress.js";
import { summaryRows } from "../../src/installer/summary.js";
import { MeshfedError } from "../../src/common/errors.js";

const jobs = [{ host: "vm-1", service: "shop/a" }, { host: "vm-2", service: "shop/b" }, { host: "vm-3", service: "shop/c" }];

test("fleet: a failing job is recorded, the others run; at most `parallel` at once; results in job order", async () => {
  let running = 0;
  let peak = 0;
  const seen: string[] = [];
  const results = await runFleet(jobs, 2, async (job, report) => {
    running++;
    peak = Math.max(peak, running);
    report("connect");
    await new Promise((r) => setImmediate(r));
    running--;
    if (job.host === "vm-2") throw new MeshfedError("MESHFED_SSH_AUTH_FAILED", "refused");
    return { outcome: "installed", proxyId: `p-${job.host}` };
  }, { step: (i, s) => seen.push(`${i}:${s}`), finished: () => undefined });
  assert.equal(peak, 2);
  assert.deepEqual(seen.sort(), ["0:connect", "1:connect", "2:connect"]);
  assert.deepEqual(results.map((r) => [r.job.host, r.outcome, r.error?.code]), [["vm-1", "installed", undefined], ["vm-2", "failed", "MESHFED_SSH_AUTH_FAILED"], ["vm-3", "installed", undefined]]);
});

test("summary: one row per job, the failure with code and reason, a footer counting failures", () => {
  const results: JobResult[] = [
    { job: jobs[0]!, outcome: "installed", proxyId: "p1", ms: 1234 },
    { job: jobs[1]!, outcome: "failed", error: { code: "MESHFED_SSH_AUTH_FAILED", message: "refused" }, ms: 15_400 },
  ];
  const table = summaryRows(results);
  assert.deepEqual(table.header, ["HOST", "SERVICE", "RESULT", "TIME", "DETAIL"]);
  assert.deepEqual(table.rows, [["vm-1", "shop/a", "installed", "1.2s", "proxy p1"], ["vm-2", "shop/b", "failed", "15s", "MESHFED_SSH_AUTH_FAILED: refused"]]);
  assert.equal(table.footer, "1 of 2 failed");
});

test("progress: plain lines per step; on a terminal one redrawn line per job", () => {
  let plain = "";
  const p = plainProgress(jobs, (s) => (plain += s));
  p.step(1, "upload");
  p.finished(1, { job: jobs[1]!, outcome: "failed", error: { code: "MESHFED_X", message: "boom" }, ms: 10 });
  assert.equal(plain, "vm-2 shop/b: upload\nvm-2 shop/b: failed: MESHFED_X: boom\n");

  let tty = "";
  const live = ttyProgress(jobs, (s) => (tty += s));
  live.step(0, "probe");
  live.finished(2, { job: jobs[2]!, outcome: "unchanged", ms: 2000 });
  live.close();
  const ESC = String.fromCharCode(27);
  const frames = tty.split(`${ESC}[3A`);
  assert.equal(frames.length, 2, "the second frame moves up over the first");
  assert.deepEqual(frames[1]!.split("\n").filter((l) => l !== "").map((l) => l.replace(`${ESC}[2K`, "")), [
    "vm-1 shop/a  probe...",
    "vm-2 shop/b  waiting",
    "vm-3 shop/c  unchanged (2.0s)",
  ]);
});
