/**
 * `npm test` and `npm run test:pipy`: node's test runner over the built test
 * files, in a private temp directory (TMPDIR), and then a check that the run
 * left nothing behind (suite/leftovers.ts). A leftover fails the run and is
 * named; the private directory is removed and leftover processes are killed
 * either way, so a failed run does not pile up on the machine.
 *
 *   node dist/test/suite/run.js           every *.test.js, two files at a time
 *   node dist/test/suite/run.js --pipy    the tests that need a real Pipy, one at a time
 */
import { spawn } from "node:child_process";
import { chmodSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describeLeftovers, isClean, leftovers, processesUsing, snapshotHost } from "./leftovers.js";

/** How long processes the tests stopped get to finish exiting before they count as leftovers. */
const EXIT_GRACE_MS = 10_000;

function testFiles(root: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(root, { withFileTypes: true, recursive: true })) {
    if (entry.isFile() && entry.name.endsWith(".test.js")) out.push(join(entry.parentPath, entry.name));
  }
  return out.sort();
}

const needsPipy = (file: string): boolean => file.includes("/test/pipy/") || file.includes("real-pipy");

async function settle(dir: string): Promise<void> {
  const deadline = Date.now() + EXIT_GRACE_MS;
  while (processesUsing(dir).length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
}

async function main(): Promise<void> {
  const pipyOnly = process.argv.includes("--pipy");
  const root = dirname(dirname(fileURLToPath(import.meta.url)));
  const files = testFiles(root).filter((f) => !pipyOnly || needsPipy(f));
  const before = snapshotHost();
  const privateTmp = mkdtempSync(join(tmpdir(), "meshfed-test-"));
  // Traversable by others (not listable): tests run a fake Pipy as the proxy user, and it reads its script from a directory in here.
  chmodSync(privateTmp, 0o711);
  const args = ["--test", `--test-concurrency=${pipyOnly ? 1 : 2}`, "--test-timeout=600000", ...files];
  // Its own process group, so a stop reaches every test process.
  const runner = spawn(process.execPath, args, { stdio: "inherit", detached: true, env: { ...process.env, TMPDIR: privateTmp } });
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.on(sig, () => {
      try {
        if (runner.pid !== undefined) process.kill(-runner.pid, sig);
      } catch {
        // already gone
      }
    });
  }
  const code = await new Promise<number>((resolve) => runner.on("exit", (c, signal) => resolve(c ?? (signal === null ? 1 : 128))));

  await settle(privateTmp);
  const found = leftovers(privateTmp, before, snapshotHost());
  for (const p of found.processes) {
    try {
      process.kill(p.pid, "SIGKILL");
    } catch {
      // exited meanwhile
    }
  }
  rmSync(privateTmp, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
  if (!isClean(found)) {
    process.stderr.write(`\nThe tests left these behind (each is a cleanup bug in a test or in what it tests):\n${describeLeftovers(found).map((l) => `  ${l}\n`).join("")}`);
    process.exitCode = code === 0 ? 1 : code;
    return;
  }
  process.stdout.write(`# leftovers: none (temp entries, processes, network namespaces, nat rules)\n`);
  process.exitCode = code;
}

await main();
