/**
 * `npm run test:stress`: the whole `npm test` (same build, same file list, same
 * lint and checks — it runs `npm test` itself) with CPU-burning processes beside
 * it, so timing assumptions in tests show up here and not on a busy CI machine.
 * Prints the load average at the start, every minute and at the end. The burners
 * die with this process: on exit, on Ctrl-C / SIGTERM, and — since each one
 * watches its IPC channel — even if this process is killed with SIGKILL.
 *
 *   MESHFED_STRESS_BURNERS   how many burners (default 2)
 */
import { fork, spawn, type ChildProcess } from "node:child_process";
import { loadavg, cpus } from "node:os";
import { fileURLToPath } from "node:url";

const BURNER_FLAG = "--burner";

/** A burner: spins in 50 ms slices and yields, so it sees its parent go away. */
function burn(): void {
  // Exit when the parent's IPC channel closes (parent exited, even by SIGKILL).
  process.on("disconnect", () => process.exit(0));
  let sink = 0;
  const slice = (): void => {
    const end = Date.now() + 50;
    while (Date.now() < end) sink = (sink + Math.sqrt(sink + 1)) % 1e9;
    setImmediate(slice);
  };
  slice();
}

function log(line: string): void {
  process.stdout.write(`[stress ${new Date().toISOString()}] ${line}\n`);
}

function loadLine(): string {
  return loadavg().map((x) => x.toFixed(2)).join(" ");
}

function main(): void {
  const n = Number(process.env.MESHFED_STRESS_BURNERS ?? "2");
  if (!Number.isInteger(n) || n < 0) throw new Error(`MESHFED_STRESS_BURNERS must be a whole number, got ${process.env.MESHFED_STRESS_BURNERS}`);
  const started = Date.now();
  const self = fileURLToPath(import.meta.url);
  const burners: ChildProcess[] = [];
  for (let i = 0; i < n; i++) burners.push(fork(self, [BURNER_FLAG], { stdio: ["ignore", "ignore", "inherit", "ipc"] }));
  log(`${n} CPU burners started (pids ${burners.map((b) => b.pid).join(", ")}) on ${cpus().length} CPUs; load average ${loadLine()}`);

  // Detached: the suite gets its own process group, so a stop reaches every test process.
  const suite = spawn("npm", ["test"], { stdio: "inherit", detached: true });
  const ticker = setInterval(() => log(`load average ${loadLine()} after ${Math.round((Date.now() - started) / 60_000)} min`), 60_000);

  let stopping = false;
  const stopBurners = (): void => {
    clearInterval(ticker);
    for (const b of burners) if (b.exitCode === null && b.signalCode === null) b.kill("SIGKILL");
  };
  process.on("exit", stopBurners);
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.on(sig, () => {
      if (stopping) return;
      stopping = true;
      log(`${sig}: stopping the suite and the burners`);
      stopBurners();
      if (suite.pid !== undefined) {
        try {
          process.kill(-suite.pid, "SIGTERM");
        } catch {
          // already gone
        }
      }
    });
  }
  suite.on("exit", (code, signal) => {
    const minutes = ((Date.now() - started) / 60_000).toFixed(1);
    log(`npm test ended (${signal ?? `exit code ${code}`}) after ${minutes} min; load average ${loadLine()}`);
    stopBurners();
    process.exit(code ?? 1);
  });
}

if (process.argv.includes(BURNER_FLAG)) burn();
else main();
