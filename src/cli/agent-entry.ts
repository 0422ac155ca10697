#!/usr/bin/env node
/**
 * Entry point of the agent bundle (dist/agent-bundle/meshfed-agent.mjs) that
 * the installer copies onto hosts: only `meshfed agent`, so the bundle pulls in
 * the agent and nothing of the controller. Run as
 * `node meshfed-agent.mjs agent --config FILE`, the same flags as `meshfed agent`
 * (one table, commands/agent-run.ts), read without yargs (agent-argv.ts).
 */
import { errorCode, errorMessage } from "../common/errors.js";
import { AgentUsageError, parseAgentArgv, type AgentInvocation } from "./agent-argv.js";
import { cleanupAgent, runAgent } from "./commands/agent-run.js";

let invocation: AgentInvocation;
try {
  invocation = parseAgentArgv(process.argv.slice(2));
} catch (err) {
  if (!(err instanceof AgentUsageError)) throw err;
  process.stderr.write(`meshfed: ${err.message} (meshfed-agent --help lists the flags)\n`);
  process.exit(2);
}
try {
  if (invocation.command === "help") process.stdout.write(invocation.text);
  else if (invocation.command === "cleanup") await cleanupAgent();
  else await runAgent(invocation.args);
} catch (err) {
  process.stderr.write(`meshfed: ${errorCode(err)}: ${errorMessage(err)}\n`);
  process.exitCode = 1;
}
