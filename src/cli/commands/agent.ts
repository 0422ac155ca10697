/** `meshfed agent`: enroll, hold the stream, serve the local Pipy, until SIGINT/SIGTERM or a permanent refusal. */
import type { Argv, Options } from "yargs";
import { AGENT_RUN_FLAGS, agentRunArgs, cleanupAgent, runAgent } from "./agent-run.js";

/**
 * `subcommands` adds `agent install|uninstall` (main.ts passes them). The
 * agent bundle does not come through here: its entry (agent-entry.ts) parses
 * the same flag table with node:util and carries no yargs, installer or SSH
 * client. Running the agent is the default subcommand, so its flags do not
 * leak into the installer's and `meshfed agent --config ...` keeps working.
 */
export function agentCommand(yargs: Argv, subcommands: (y: Argv) => Argv = (y) => y) {
  return yargs.command(
    "agent",
    "run the VM agent (flags override the config file); agent install|uninstall: put it on hosts over SSH",
    (y) => agentRunCommand(agentCleanupCommand(subcommands(y))),
  );
}

function agentRunCommand<T>(yargs: Argv<T>) {
  return yargs.command(
    "$0",
    "run the VM agent: enroll, hold the control stream, supervise the local Pipy (flags override the config file)",
    (y) => {
      let withFlags = y;
      for (const flag of AGENT_RUN_FLAGS) {
        const option: Options = { describe: flag.describe };
        if (flag.choices !== undefined) option.choices = [...flag.choices];
        else option.type = flag.type;
        if (flag.array) option.array = true;
        withFlags = withFlags.option(flag.name, option);
      }
      return withFlags;
    },
    (argv) => runAgent(agentRunArgs(argv)),
  );
}

function agentCleanupCommand<T>(yargs: Argv<T>) {
  return yargs.command(
    "cleanup",
    "remove the agent's iptables capture rules and resolver hook (after a kill -9; the uninstaller runs it)",
    (y) => y,
    () => cleanupAgent(),
  );
}
