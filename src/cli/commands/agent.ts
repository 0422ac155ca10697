/** `meshfed agent`: enroll, hold the stream, serve the local Pipy, until SIGINT/SIGTERM or a permanent refusal. */
import type { Argv } from "yargs";
import { errorCode, errorMessage } from "../../common/errors.js";
import { createLogger, LOG_LEVELS } from "../../common/logger.js";
import { EXIT_PERMANENT, loadAgentConfig, startAgent, type AgentConfig, type RunningAgent } from "../../agent/index.js";
import { Iptables, removeCapture } from "../../agent/capture/index.js";
import { DEFAULT_RESOLVER_PATHS, ResolverHook } from "../../agent/dns/resolver-hook.js";
import { closeOnSignals } from "../signals.js";

interface AgentArgs {
  config?: string;
  controller?: string;
  caFile?: string;
  tokenFile?: string;
  bootstrap?: string;
  imdsUrl?: string;
  dataDir?: string;
  service?: string;
  endpoint?: string[];
  probe?: string[];
  pipy?: string;
  proxy?: boolean;
  repoAddress?: string;
  logLevel?: string;
  backoffCap?: string;
  hostAddress?: string[];
  dns?: string;
  dnsListen?: string;
  dnsHook?: string;
  capture?: string;
  proxyUser?: string;
}

/**
 * `subcommands` adds `agent install|uninstall` (main.ts passes them); the agent
 * bundle (agent-entry.ts) leaves them out so that it carries no installer and
 * no SSH client. Running the agent is the default subcommand, so its flags do
 * not leak into the installer's and `meshfed agent --config ...` keeps working.
 */
export function agentCommand(yargs: Argv, subcommands: (y: Argv) => Argv = (y) => y) {
  return yargs.command(
    "agent",
    "run the VM agent (flags override the config file); agent install|uninstall: put it on hosts over SSH",
    (y) => agentRunCommand(agentCleanupCommand(subcommands(y))),
  );
}

function agentRunCommand<T>(yargs: Argv<T>) {
  return yargs.command<AgentArgs>(
    "$0",
    "run the VM agent: enroll, hold the control stream, supervise the local Pipy (flags override the config file)",
    (y) =>
      y
        .option("config", { type: "string", describe: "agent config file (YAML); see docs/agent.md" })
        .option("controller", { type: "string", describe: "controller host:port; a comma-separated list is tried in rotation" })
        .option("ca-file", { type: "string", describe: "CA bundle pinned for enrollment (from the install)" })
        .option("token-file", { type: "string", describe: "join token file (first start only)" })
        .option("bootstrap", { choices: ["token", "azure-imds"], describe: "first enrollment by a join token (default) or by the Azure IMDS attested document, no token (docs/azure.md)" })
        .option("imds-url", { type: "string", describe: "IMDS base URL for --bootstrap azure-imds (tests only; default http://169.254.169.254)" })
        .option("data-dir", { type: "string", describe: "state directory: keys, certificates, configs (default ./meshfed-agent-data)" })
        .option("service", { type: "string", describe: "expected service namespace/name (the enrollment must match)" })
        .option("endpoint", { type: "string", array: true, describe: "IP:PORT[/PROTOCOL] of the local service, protocol http (default), http2, grpc or tcp (repeatable)" })
        .option("probe", { type: "string", array: true, describe: "health probe of a local endpoint port, e.g. port=14001,type=http,path=/healthz,periodSeconds=5 (repeatable; replaces the config file's probes)" })
        .option("pipy", { type: "string", describe: "Pipy binary (default: pipy on PATH)" })
        .option("proxy", { type: "boolean", describe: "run Pipy; --no-proxy: registration and certificates only" })
        .option("repo-address", { type: "string", describe: "loopback host:port of the local Pipy repo and /status (default 127.0.0.1:15010)" })
        .option("host-address", { type: "string", array: true, describe: "address of this host announced to the controller (repeatable; default: interface addresses)" })
        .option("dns", { choices: ["enabled", "disabled"], describe: "answer mesh names (<svc>.<ns>.svc[.<trust domain>]) on this host (default disabled; docs/dataplane.md)" })
        .option("dns-listen", { type: "string", describe: "loopback host:port of the mesh DNS (default 127.0.0.153:53)" })
        .option("dns-hook", { choices: ["auto", "resolved", "resolv.conf", "none"], describe: "how the host's resolver is pointed at it (default auto)" })
        .option("capture", { choices: ["none", "transparent"], describe: "transparent: capture the host's TCP with iptables (docs/dataplane.md); none: explicit mode (default)" })
        .option("proxy-user", { type: "string", describe: "user (name, uid or uid:gid) Pipy runs as; required with --capture transparent" })
        .option("backoff-cap", { type: "string", describe: "longest reconnect delay (default 30s)" })
        .option("log-level", { choices: LOG_LEVELS, describe: "log level (logs go to stderr as JSON lines)" }),
    async (argv) => {
      // Errors are printed here, not by the CLI's generic handler: operators and
      // install scripts match on the `meshfed agent: <CODE>: <details>` line.
      let config: AgentConfig;
      let agent: RunningAgent;
      let logger: ReturnType<typeof createLogger>;
      try {
        config = await loadAgentConfig(argv.config, {
          controller: argv.controller, caFile: argv.caFile, tokenFile: argv.tokenFile, bootstrap: argv.bootstrap, imdsUrl: argv.imdsUrl, dataDir: argv.dataDir,
          service: argv.service, endpoints: argv.endpoint, pipy: argv.pipy, proxy: argv.proxy,
          repoAddress: argv.repoAddress, logLevel: argv.logLevel, backoffCap: argv.backoffCap, hostAddresses: argv.hostAddress,
          dns: argv.dns, dnsListen: argv.dnsListen, dnsHook: argv.dnsHook,
          capture: argv.capture, proxyUser: argv.proxyUser, probes: argv.probe,
        });
        logger = createLogger(config.logLevel);
        agent = await startAgent(config, logger);
      } catch (err) {
        process.stderr.write(`meshfed agent: ${errorCode(err)}: ${errorMessage(err)}\n`);
        process.exitCode = (err as Error).name === "PermanentRefusal" ? EXIT_PERMANENT : 1;
        return;
      }
      process.stdout.write(`meshfed agent started: status ${agent.statusUrl}, Pipy repo ${agent.repoUrl}\n`);

      // A hung drain must not hang the process: Pipy's grace period plus a margin.
      const release = closeOnSignals(() => agent.close(), config.proxy.stopGrace + 4000, logger);
      const exit = await agent.done;
      release();
      if (exit.exitCode !== 0) process.stderr.write(`meshfed agent: ${exit.code ?? "MESHFED_INTERNAL"}: ${exit.message ?? "stopped"}\n`);
      process.exitCode = exit.exitCode;
    },
  );
}

/**
 * `meshfed agent cleanup`: undoes what a killed agent left on the host (the
 * uninstaller runs it after stopping the service): the capture chains and
 * the jumps into them, whatever rules they hold, and the resolver hook
 * (resolv.conf back from its backup, byte for byte, or the systemd-resolved
 * drop-in removed). It needs no config: both are found by their fixed names
 * and markers.
 */
function agentCleanupCommand<T>(yargs: Argv<T>) {
  return yargs.command(
    "cleanup",
    "remove the agent's iptables capture rules and resolver hook (after a kill -9; the uninstaller runs it)",
    (y) => y,
    async () => {
      try {
        const removed = await removeCapture(new Iptables(), new Iptables({ family: 6 }));
        process.stdout.write(removed ? "capture rules removed\n" : "no capture rules found\n");
      } catch (err) {
        // No iptables at all means no rules of ours either.
        if (errorCode(err) === "MESHFED_CAPTURE_IPTABLES_MISSING" || errorCode(err) === "MESHFED_CAPTURE_NFTABLES_ONLY") {
          process.stdout.write("no capture rules found (no iptables on this host)\n");
        } else {
          process.stderr.write(`meshfed agent cleanup: ${errorCode(err)}: ${errorMessage(err)}\n`);
          process.exitCode = 1;
        }
      }
      try {
        // The listen address only matters to install(); restore() reads the files.
        const hook = new ResolverHook({ mode: "auto", paths: DEFAULT_RESOLVER_PATHS, listen: { host: "127.0.0.153", port: 53 }, logger: createLogger("warn") });
        process.stdout.write((await hook.restore()) ? "resolver restored\n" : "no resolver hook found\n");
      } catch (err) {
        process.stderr.write(`meshfed agent cleanup: ${errorCode(err)}: ${errorMessage(err)}\n`);
        process.exitCode = 1;
      }
    },
  );
}
