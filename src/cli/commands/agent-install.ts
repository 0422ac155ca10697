/**
 * `meshfed agent install` and `meshfed agent uninstall`: the agent onto (or
 * off) one host or a fleet over SSH (src/installer, docs/installer.md).
 * Progress goes to stderr (live lines on a terminal), the summary table to
 * stdout; the exit status is 1 when any host failed.
 */
import { CAPTURE_CHOICES, type CaptureChoice } from "../../installer/capture.js";
import { homedir } from "node:os";
import { join } from "node:path";
import type { Argv } from "yargs";
import { parseDuration } from "../../common/duration.js";
import { MeshfedError } from "../../common/errors.js";
import { LOG_LEVELS } from "../../common/logger.js";
import { loadAgentBundle } from "../../installer/bundle.js";
import { anyFailed, type JobResult } from "../../installer/fleet.js";
import { DEFAULT_INSTALL_ROOT, DEFAULT_UNIT_DIR } from "../../installer/layout.js";
import { plainProgress, ttyProgress } from "../../installer/progress.js";
import type { FleetOptions } from "../../installer/run.js";
import { SERVICE_MANAGERS } from "../../installer/service-manager.js";
import { summaryRows } from "../../installer/summary.js";
import { expandHome, jobFromFlags, jobsFromInventory, type CommonAgentSettings, type InstallJob, type SshSettings } from "../../installer/targets.js";
import { adminClientOptions } from "../admin-client.js";
import { httpControllerAdmin } from "../installer-admin.js";
import { adminOptions } from "../output.js";
import { renderTable } from "../table.js";

interface TargetArgs {
  host?: string;
  inventory?: string;
  service?: string;
  identity?: string;
  knownHosts?: string;
  acceptNewHostKey: boolean;
  parallel: number;
  installRoot: string;
  unitDir: string;
  node: string;
  serviceManager: "systemd" | "none" | "auto";
}

interface AdminArgs {
  admin?: string;
  adminTokenFile?: string;
}

interface UninstallArgs extends TargetArgs, AdminArgs {
  keepCertificate: boolean;
}

interface InstallArgs extends TargetArgs, AdminArgs {
  controller: string;
  endpoint?: string[];
  pipy: string;
  proxy: boolean;
  repoAddress: string;
  agentLogLevel: string;
  capture: CaptureChoice;
  timeout: string;
  bundle?: string;
  bootstrap: "token" | "azure-imds";
}

function targetOptions<T>(y: Argv<T>) {
  return y
    .option("host", { type: "string", describe: "user@address[:port] of one host" })
    .option("inventory", { type: "string", describe: "hosts file (the on-prem provider's; hosts with ssh: {user, port, key})" })
    .option("service", { type: "string", describe: "namespace/name of the agent's service (with --host)" })
    .option("identity", { type: "string", describe: "SSH private key (default: the ssh-agent); the inventory's ssh.key wins" })
    .option("known-hosts", { type: "string", describe: "known_hosts file (default ~/.ssh/known_hosts)" })
    .option("accept-new-host-key", { type: "boolean", default: false, describe: "trust and record the key of a host not yet in known_hosts (a changed key is always refused)" })
    .option("parallel", { type: "number", default: 16, describe: "hosts worked on at once" })
    .option("install-root", { type: "string", default: DEFAULT_INSTALL_ROOT, describe: "directory on the host; each agent gets <root>/agents/<ns>_<name>" })
    .option("unit-dir", { type: "string", default: DEFAULT_UNIT_DIR, describe: "where systemd units go" })
    .option("node", { type: "string", default: "node", describe: "Node.js (>= 20) on the host that runs the agent" })
    .option("service-manager", { choices: [...SERVICE_MANAGERS, "auto"] as const, default: "auto" as const, describe: "systemd, none (detached process with a pid file), auto: systemd when the host runs it" })
    .check((argv) => {
      if ((argv.host === undefined) === (argv.inventory === undefined)) throw new Error("give either --host (with --service) or --inventory");
      if (argv.host !== undefined && argv.service === undefined) throw new Error("--host needs --service namespace/name");
      if (!Number.isInteger(argv.parallel) || argv.parallel < 1) throw new Error("--parallel must be a positive integer");
      return true;
    });
}

function sshSettings(argv: TargetArgs): SshSettings {
  return {
    ...(argv.identity !== undefined ? { identityFile: expandHome(argv.identity) } : {}),
    hostKeys: { knownHostsFile: argv.knownHosts ?? join(homedir(), ".ssh", "known_hosts"), acceptNew: argv.acceptNewHostKey },
  };
}

async function jobsFor(argv: TargetArgs, common: CommonAgentSettings, endpoints: readonly string[]): Promise<InstallJob[]> {
  const ssh = sshSettings(argv);
  if (argv.host !== undefined) return [jobFromFlags(argv.host, argv.service!, endpoints, common, ssh)];
  const { jobs, skipped } = await jobsFromInventory(argv.inventory!, common, ssh);
  if (skipped.length > 0) process.stderr.write(`skipped (no ssh: or no services in the inventory): ${skipped.join(", ")}\n`);
  if (jobs.length === 0) throw new MeshfedError("MESHFED_INSTALL_NOTHING_TO_DO", `${argv.inventory} lists no host with ssh: and services`);
  return jobs;
}

async function runWithProgress(jobs: readonly InstallJob[], argv: TargetArgs, connectTimeoutMs: number, run: (o: FleetOptions) => Promise<JobResult[]>): Promise<void> {
  const rows = jobs.map((j) => ({ host: j.host, service: `${j.spec.service.namespace}/${j.spec.service.name}` }));
  const write = (text: string) => void process.stderr.write(text);
  const progress = process.stderr.isTTY ? ttyProgress(rows, write) : plainProgress(rows, write);
  let results: JobResult[];
  try {
    results = await run({
      parallel: argv.parallel, progress, installRoot: argv.installRoot, unitDir: argv.unitDir, node: argv.node,
      serviceManager: argv.serviceManager, connectTimeoutMs,
    });
  } finally {
    progress.close();
  }
  const table = summaryRows(results);
  process.stdout.write(renderTable(table.header, table.rows));
  process.stdout.write(`${table.footer}\n`);
  if (anyFailed(results)) process.exitCode = 1;
}

export function agentInstallCommand<T>(yargs: Argv<T>) {
  return yargs.command<InstallArgs>(
    "install",
    "install or upgrade the agent on a host or a fleet over SSH; waits until each agent is connected",
    (y) =>
      targetOptions(y)
        .option("controller", { type: "string", demandOption: true, describe: "controller gRPC host:port the agents dial (comma-separated for HA)" })
        .options(adminOptions)
        .option("endpoint", { type: "string", array: true, describe: "IP:PORT of the local service (with --host; repeatable)" })
        .option("pipy", { type: "string", default: "/usr/local/bin/pipy", describe: "Pipy binary on the host" })
        .option("proxy", { type: "boolean", default: true, describe: "run Pipy; --no-proxy: registration and certificates only" })
        .option("repo-address", { type: "string", default: "127.0.0.1:15010", describe: "loopback repo address of the agent (the next port for each further agent on a host)" })
        .option("agent-log-level", { choices: LOG_LEVELS, default: "info", describe: "the installed agent's log level" })
        .option("capture", { choices: CAPTURE_CHOICES, default: "auto" as const, describe: "transparent: capture the host's TCP with iptables (Pipy runs as the system user meshfed-proxy); none: explicit mode; auto: transparent when the host can, the summary says why not" })
        .option("timeout", { type: "string", default: "60s", describe: "how long to wait for each agent to connect" })
        .option("bootstrap", { choices: ["token", "azure-imds"] as const, default: "token" as const, describe: "first enrollment: a join token minted per host (default), or azure-imds: the VM's IMDS attested document, no token (docs/azure.md)" })
        .option("bundle", { type: "string", describe: "agent bundle directory (default: dist/agent-bundle of this package)" }),
    async (argv) => {
      const common: CommonAgentSettings = {
        controller: argv.controller.split(",").map((s) => s.trim()).filter((s) => s !== ""),
        ...(argv.proxy ? { pipy: argv.pipy } : {}),
        repoAddress: argv.repoAddress,
        logLevel: argv.agentLogLevel,
        capture: argv.capture,
        ...(argv.bootstrap === "azure-imds" ? { bootstrap: "azure-imds" as const } : {}),
      };
      const jobs = await jobsFor(argv, common, argv.endpoint ?? []);
      const bundle = await loadAgentBundle(argv.bundle);
      const admin = httpControllerAdmin(adminClientOptions(argv));
      // Loaded here, not at start-up: every other meshfed command would pay for the SSH client.
      const { installFleet } = await import("../../installer/run.js");
      await runWithProgress(jobs, argv, parseDuration(argv.timeout), (options) => installFleet(jobs, admin, bundle, options));
    },
  );
}

/** Both subcommands, for `agentCommand(cli, agentInstallSubcommands)`. */
export function agentInstallSubcommands(yargs: Argv): Argv {
  return agentUninstallCommand(agentInstallCommand(yargs));
}

export function agentUninstallCommand<T>(yargs: Argv<T>) {
  return yargs.command<UninstallArgs>(
    "uninstall",
    "stop the agent and remove everything the installer put on a host or a fleet",
    (y) =>
      targetOptions(y)
        .options(adminOptions)
        .option("keep-certificate", { type: "boolean", default: false, describe: "leave the proxy certificate valid at the controller (default: revoke it once the host is clean)" }),
    async (argv) => {
      const common: CommonAgentSettings = { controller: [], repoAddress: "127.0.0.1:0", logLevel: "info" };
      const jobs = await jobsFor(argv, common, []);
      const admin = argv.keepCertificate ? undefined : httpControllerAdmin(adminClientOptions(argv));
      const { uninstallFleet } = await import("../../installer/run.js");
      await runWithProgress(jobs, argv, 0, (options) => uninstallFleet(jobs, options, admin));
    },
  );
}
