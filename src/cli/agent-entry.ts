#!/usr/bin/env node
/**
 * Entry point of the agent bundle (dist/agent-bundle/meshfed-agent.mjs) that
 * the installer copies onto hosts: only `meshfed agent`, so the bundle pulls in
 * the agent and nothing of the controller. Run as
 * `node meshfed-agent.mjs agent --config FILE`, the same flags as `meshfed agent`.
 */
import yargs from "yargs";
import { hideBin } from "yargs/helpers";
import { errorCode, errorMessage } from "../common/errors.js";
import { agentCommand } from "./commands/agent.js";

const cli = yargs(hideBin(process.argv))
  .scriptName("meshfed-agent")
  .strict()
  .demandCommand(1, "name a command: agent")
  .help()
  .version(false)
  .fail((message, err) => {
    process.stderr.write(err ? `meshfed: ${errorCode(err)}: ${errorMessage(err)}\n` : `meshfed: ${message}\n`);
    process.exit(err ? 1 : 2);
  });
agentCommand(cli);
await cli.parseAsync();
