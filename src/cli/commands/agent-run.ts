/**
 * What `meshfed agent` does, without any command-line library: the flags it
 * takes (one table), running the agent, and `agent cleanup`. Two front ends
 * read the table: the full CLI (yargs, commands/agent.ts) and the agent
 * bundle's entry (node:util parseArgs, agent-argv.ts). The bundle leaves
 * yargs out because a library loaded once stays in the agent's memory for
 * its whole life (~3 MiB measured; docs/benchmarks.md, issue 17).
 */
import { errorCode, errorMessage } from "../../common/errors.js";
import { createLogger, LOG_LEVELS } from "../../common/logger.js";
import { EXIT_PERMANENT, loadAgentConfig, startAgent, type AgentConfig, type AgentOverrides, type RunningAgent } from "../../agent/index.js";
import { Iptables, removeCapture } from "../../agent/capture/index.js";
import { DEFAULT_RESOLVER_PATHS, ResolverHook } from "../../agent/dns/resolver-hook.js";
import { closeOnSignals } from "../signals.js";

export interface AgentFlag {
  /** The flag as typed, kebab-case (`--ca-file`); its value lands under the camelCase key (`caFile`). */
  readonly name: string;
  readonly type: "string" | "boolean";
  /** Repeatable: every occurrence adds one value. */
  readonly array?: true;
  readonly choices?: readonly string[];
  readonly describe: string;
  /** What it sets: a field of the overrides, or the config file itself. */
  readonly field: keyof AgentOverrides | "config";
}

export const AGENT_RUN_FLAGS: readonly AgentFlag[] = [
  { name: "config", type: "string", describe: "agent config file (YAML); see docs/agent.md", field: "config" },
  { name: "controller", type: "string", describe: "controller host:port; a comma-separated list is tried in rotation", field: "controller" },
  { name: "ca-file", type: "string", describe: "CA bundle pinned for enrollment (from the install)", field: "caFile" },
  { name: "token-file", type: "string", describe: "join token file (first start only)", field: "tokenFile" },
  { name: "bootstrap", type: "string", choices: ["token", "azure-imds"], describe: "first enrollment by a join token (default) or by the Azure IMDS attested document, no token (docs/azure.md)", field: "bootstrap" },
  { name: "imds-url", type: "string", describe: "IMDS base URL for --bootstrap azure-imds (tests only; default http://169.254.169.254)", field: "imdsUrl" },
  { name: "data-dir", type: "string", describe: "state directory: keys, certificates, configs (default ./meshfed-agent-data)", field: "dataDir" },
  { name: "service", type: "string", describe: "expected service namespace/name (the enrollment must match)", field: "service" },
  { name: "endpoint", type: "string", array: true, describe: "IP:PORT[/PROTOCOL] of the local service, protocol http (default), http2, grpc or tcp (repeatable)", field: "endpoints" },
  { name: "probe", type: "string", array: true, describe: "health probe of a local endpoint port, e.g. port=14001,type=http,path=/healthz,periodSeconds=5 (repeatable; replaces the config file's probes)", field: "probes" },
  { name: "pipy", type: "string", describe: "Pipy binary (default: pipy on PATH)", field: "pipy" },
  { name: "proxy", type: "boolean", describe: "run Pipy; --no-proxy: registration and certificates only", field: "proxy" },
  { name: "repo-address", type: "string", describe: "loopback host:port of the local Pipy repo and /status (default 127.0.0.1:15010)", field: "repoAddress" },
  { name: "host-address", type: "string", array: true, describe: "address of this host announced to the controller (repeatable; default: interface addresses)", field: "hostAddresses" },
  { name: "dns", type: "string", choices: ["enabled", "disabled"], describe: "answer mesh names (<svc>.<ns>.svc[.<trust domain>]) on this host (default disabled; docs/dataplane.md)", field: "dns" },
  { name: "dns-listen", type: "string", describe: "loopback host:port of the mesh DNS (default 127.0.0.153:53)", field: "dnsListen" },
  { name: "dns-hook", type: "string", choices: ["auto", "resolved", "resolv.conf", "none"], describe: "how the host's resolver is pointed at it (default auto)", field: "dnsHook" },
  { name: "capture", type: "string", choices: ["none", "transparent"], describe: "transparent: capture the host's TCP with iptables (docs/dataplane.md); none: explicit mode (default)", field: "capture" },
  { name: "proxy-user", type: "string", describe: "user (name, uid or uid:gid) Pipy runs as; required with --capture transparent", field: "proxyUser" },
  { name: "backoff-cap", type: "string", describe: "longest reconnect delay (default 30s)", field: "backoffCap" },
  { name: "log-level", type: "string", choices: LOG_LEVELS, describe: "log level (logs go to stderr as JSON lines)", field: "logLevel" },
];

/** What `meshfed agent` runs with: the config file, and the flags over it. */
export interface AgentRunArgs {
  readonly config?: string;
  readonly overrides: AgentOverrides;
}

/** `--ca-file` → `caFile`, the key both parsers give a flag's value under. */
export function flagKey(name: string): string {
  return name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

/** The table read over parsed values keyed by `flagKey` (yargs' argv, or the bundle's parser). */
export function agentRunArgs(values: Readonly<Record<string, unknown>>): AgentRunArgs {
  let config: string | undefined;
  const overrides: Record<string, unknown> = {};
  for (const flag of AGENT_RUN_FLAGS) {
    const value = values[flagKey(flag.name)];
    if (value === undefined) continue;
    if (flag.field === "config") config = value as string;
    else overrides[flag.field] = value;
  }
  return { ...(config === undefined ? {} : { config }), overrides };
}

/** Runs the agent until SIGINT/SIGTERM or a permanent refusal; sets process.exitCode. */
export async function runAgent(args: AgentRunArgs): Promise<void> {
  // Errors are printed here, not by a CLI's generic handler: operators and
  // install scripts match on the `meshfed agent: <CODE>: <details>` line.
  let config: AgentConfig;
  let agent: RunningAgent;
  let logger: ReturnType<typeof createLogger>;
  try {
    config = await loadAgentConfig(args.config, args.overrides);
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
}

/**
 * `meshfed agent cleanup`: undoes what a killed agent left on the host (the
 * uninstaller runs it after stopping the service): the capture chains and
 * the jumps into them, whatever rules they hold, and the resolver hook
 * (resolv.conf back from its backup, byte for byte, or the systemd-resolved
 * drop-in removed). It needs no config: both are found by their fixed names
 * and markers.
 */
export async function cleanupAgent(): Promise<void> {
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
}
