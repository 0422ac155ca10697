/**
 * `meshfed demo` (`npm run demo`): the controller on its embedded defaults
 * with the demo hosts and the example SMI policies, plus two real agent
 * processes on loopback addresses the hosts file lists, so that the demo
 * shows full participants. Agents run with --no-proxy: a Pipy is not needed
 * to see enrollment, certificates, configs and participants.
 * `--transparent` is the unchanged-app path instead (src/cli/demo/transparent.ts).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { createWriteStream, existsSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Argv } from "yargs";
import { createLogger, LOG_LEVELS } from "../../common/logger.js";
import { loadControllerConfig } from "../../controller/config/load.js";
import { startController } from "../../controller/main.js";
import { checkNetnsPrefix, checkTransparentPrerequisites } from "../demo/preflight.js";
import { runTransparentDemo } from "../demo/transparent.js";
import { closeOnSignals } from "../signals.js";
import { whereToLook } from "./controller.js";

const DEMO_CONFIG = fileURLToPath(new URL("../../../../config/demo.yaml", import.meta.url));
const CLI = fileURLToPath(new URL("../main.js", import.meta.url));
/** --transparent keeps its own controller state: its hosts are the namespaces, not the loopback addresses. */
const TRANSPARENT_DATA_DIR = fileURLToPath(new URL("../../../../.data/demo-transparent/controller", import.meta.url));

/** The demo agents: each runs "on" the loopback address that config/demo-hosts.yaml gives its service. */
const DEMO_AGENTS = [
  { name: "bookbuyer", service: "bookbuyer/bookbuyer", address: "127.0.0.10", port: 14001, repoPort: 15011 },
  { name: "bookstore-v1", service: "bookstore/bookstore-v1", address: "127.0.0.21", port: 14001, repoPort: 15012 },
] as const;

export function demoCommand(yargs: Argv) {
  return yargs.command<{ agents: boolean; transparent: boolean; pipy?: string; netnsPrefix: string; logLevel?: string; dataDir?: string; adminAddress?: string; grpcAddress?: string }>(
    "demo",
    "run the controller with the demo hosts and SMI policies, plus two demo agents",
    (y) =>
      y
        .option("agents", { type: "boolean", default: true, describe: "start the two demo agents (--no-agents: controller only)" })
        .option("transparent", { type: "boolean", default: false, describe: "the unchanged-app path: two network namespaces, agents with transparent capture and real Pipy (Linux, root; needs --pipy)" })
        .option("pipy", { type: "string", describe: "Pipy binary for --transparent" })
        // Tests give their own prefix, so that what they create is theirs to find and remove.
        .option("netns-prefix", { type: "string", default: "meshfed-demo-", hidden: true })
        .option("log-level", { choices: LOG_LEVELS, describe: "controller log level (logs go to stderr)" })
        .option("data-dir", { type: "string", describe: "controller state directory (default .data/demo/controller); agents live beside it" })
        .option("admin-address", { type: "string", describe: "admin API host:port (default 127.0.0.1:15000)" })
        .option("grpc-address", { type: "string", describe: "agent gRPC host:port (default 127.0.0.1:15128)" }),
    async (argv) => {
      if (argv.transparent) {
        const netnsPrefix = checkNetnsPrefix(argv.netnsPrefix);
        const pipy = await checkTransparentPrerequisites(argv.pipy);
        const config = await loadControllerConfig(DEMO_CONFIG, {
          logLevel: argv.logLevel, dataDir: argv.dataDir ?? TRANSPARENT_DATA_DIR, adminAddress: argv.adminAddress, grpcAddress: argv.grpcAddress,
        });
        await runTransparentDemo({ config, logger: createLogger(config.logLevel), pipy, netnsPrefix });
        return;
      }
      const config = await loadControllerConfig(DEMO_CONFIG, {
        logLevel: argv.logLevel, dataDir: argv.dataDir, adminAddress: argv.adminAddress, grpcAddress: argv.grpcAddress,
      });
      const logger = createLogger(config.logLevel);
      const controller = await startController(config, logger);
      process.stdout.write(whereToLook(controller.adminUrl, controller.grpcAddress, config));
      const agents: ChildProcess[] = [];
      const close = async () => {
        await Promise.all(agents.map(async (a) => {
          if (a.exitCode !== null || a.signalCode !== null) return;
          const exited = once(a, "exit");
          a.kill("SIGTERM");
          await exited;
        }));
        await controller.close();
      };
      closeOnSignals(close, config.shutdownTimeout + 5000, logger);
      if (!argv.agents) return;

      const home = join(config.dataDir, "..", "agents");
      const ca = await (await fetch(`${controller.adminUrl}/api/v1/ca`)).text();
      for (const a of DEMO_AGENTS) agents.push(await startDemoAgent(a, home, ca, controller.adminUrl, controller.grpcAddress));
      process.stdout.write(
        `demo agents (no Pipy: --no-proxy), logs in ${home}/<name>/agent.log\n` +
          DEMO_AGENTS.map((a) => `  ${a.service.padEnd(24)} on ${a.address}, status http://127.0.0.1:${a.repoPort}/status`).join("\n") + "\n",
      );
      const participants = await waitForParticipants(controller.adminUrl, DEMO_AGENTS.length, 30_000);
      process.stdout.write(`${participants} of ${DEMO_AGENTS.length} demo agents are full participants (issued ∩ connected ∩ discovered).\n`);
    },
  );
}

async function startDemoAgent(
  a: (typeof DEMO_AGENTS)[number], home: string, ca: string, adminUrl: string, grpcAddress: string,
): Promise<ChildProcess> {
  const dir = join(home, a.name);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeFile(join(dir, "ca.pem"), ca);
  const args = [
    CLI, "agent", "--controller", grpcAddress, "--ca-file", join(dir, "ca.pem"), "--data-dir", join(dir, "data"),
    "--service", a.service, "--endpoint", `${a.address}:${a.port}`, "--host-address", a.address,
    "--repo-address", `127.0.0.1:${a.repoPort}`, "--no-proxy",
  ];
  // An agent enrolled in an earlier run reuses its certificate: no token needed.
  if (!existsSync(join(dir, "data", "state.json"))) {
    const res = await fetch(`${adminUrl}/api/v1/tokens`, {
      method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ service: a.service, ttl: "10m", uses: 1 }),
    });
    const { token } = (await res.json()) as { token: string };
    await writeFile(join(dir, "token"), `${token}\n`, { mode: 0o600 });
    args.push("--token-file", join(dir, "token"));
  }
  const log = createWriteStream(join(dir, "agent.log"), { flags: "a" });
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
  child.stdout.pipe(log);
  child.stderr.pipe(log);
  return child;
}

async function waitForParticipants(adminUrl: string, want: number, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let count = 0;
  while (Date.now() < deadline) {
    const res = await fetch(`${adminUrl}/api/v1/participants`);
    count = ((await res.json()) as { participants: unknown[] }).participants.length;
    if (count >= want) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  return count;
}
