/**
 * The agent bundle's command line, read with node:util parseArgs from the
 * same flag table as the full CLI's `meshfed agent` (commands/agent-run.ts):
 * `agent [flags]`, `agent cleanup`, `--help`. Stricter than yargs in one
 * way: a repeatable flag takes one value per occurrence (`--endpoint A
 * --endpoint B`), and a single-valued flag given twice is refused rather than
 * one of its values silently winning.
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { MeshfedError } from "../common/errors.js";
import { AGENT_RUN_FLAGS, agentRunArgs, flagKey, type AgentRunArgs } from "./commands/agent-run.js";

export type AgentInvocation =
  | { readonly command: "run"; readonly args: AgentRunArgs }
  | { readonly command: "cleanup" }
  | { readonly command: "help"; readonly text: string };

/** A command line the agent cannot run; the entry prints it and exits 2, as yargs' usage errors do. */
export class AgentUsageError extends MeshfedError {
  constructor(message: string) {
    super("MESHFED_USAGE", message);
    this.name = "AgentUsageError";
  }
}

type OptionSpec = NonNullable<ParseArgsConfig["options"]>;

const OPTIONS: OptionSpec = {
  help: { type: "boolean", short: "h" },
  ...Object.fromEntries(AGENT_RUN_FLAGS.map((flag) => [flag.name, { type: flag.type, multiple: flag.array === true }])),
};

export function parseAgentArgv(argv: readonly string[]): AgentInvocation {
  let parsed: ReturnType<typeof parseArgs<{ options: OptionSpec; allowPositionals: true; allowNegative: true; tokens: true; strict: true; args: string[] }>>;
  try {
    parsed = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, allowNegative: true, tokens: true, strict: true });
  } catch (err) {
    // parseArgs' messages name the flag and what was wrong with it; the one
    // for an unknown flag goes on about positionals, which misleads here.
    const unknown = /^Unknown option '([^']+)'/.exec((err as Error).message);
    throw new AgentUsageError(unknown ? `unknown flag ${unknown[1]!}` : (err as Error).message);
  }
  const { values, positionals, tokens } = parsed;
  if (values.help === true) return { command: "help", text: agentHelp() };
  const [command, sub, ...rest] = positionals;
  if (command === undefined) throw new AgentUsageError("name a command: agent");
  if (command !== "agent") throw new AgentUsageError(`unknown command "${command}": this is the agent bundle, its only command is agent`);
  const flagsGiven = tokens.filter((t) => t.kind === "option");
  if (sub !== undefined) {
    if (sub !== "cleanup" || rest.length > 0) throw new AgentUsageError(`unknown argument "${[sub, ...rest].join(" ")}": agent takes flags, or the subcommand cleanup`);
    if (flagsGiven.length > 0) throw new AgentUsageError(`agent cleanup takes no flags (got --${flagsGiven[0]!.name})`);
    return { command: "cleanup" };
  }
  const args: Record<string, unknown> = {};
  for (const flag of AGENT_RUN_FLAGS) {
    if (values[flag.name] === undefined) continue;
    if (flag.array !== true && flagsGiven.filter((t) => t.name === flag.name).length > 1) {
      const once = flag.type === "boolean" ? `give --${flag.name} or --no-${flag.name}, once` : "it takes one value";
      throw new AgentUsageError(`--${flag.name} was given more than once; ${once}`);
    }
    const given = flag.array === true ? (values[flag.name] as string[]) : [values[flag.name] as string | boolean];
    for (const value of given) {
      if (flag.choices !== undefined && !flag.choices.includes(value as string)) {
        throw new AgentUsageError(`--${flag.name} must be one of ${flag.choices.join(", ")}; got "${String(value)}"`);
      }
    }
    args[flagKey(flag.name)] = values[flag.name];
  }
  return { command: "run", args: agentRunArgs(args) };
}

export function agentHelp(): string {
  const rows = AGENT_RUN_FLAGS.map((flag) => {
    const value = flag.type === "boolean" ? "" : flag.choices !== undefined ? ` <${flag.choices.join("|")}>` : " <value>";
    return [`  --${flag.name}${flag.type === "boolean" ? `, --no-${flag.name}` : ""}${value}`, flag.describe];
  });
  const width = Math.max(...rows.map(([left]) => left!.length)) + 2;
  return [
    "usage: meshfed-agent agent [flags]      run the VM agent: enroll, hold the control stream, supervise the local Pipy",
    "       meshfed-agent agent cleanup      remove the agent's iptables capture rules and resolver hook (after a kill -9)",
    "",
    "flags (they override the config file; repeatable ones take one value per occurrence):",
    ...rows.map(([left, right]) => `${left!.padEnd(width)}${right!}`),
    "  -h, --help".padEnd(width) + "this text",
    "",
  ].join("\n");
}
