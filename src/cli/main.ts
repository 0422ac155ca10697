#!/usr/bin/env node
/** The `meshfed` command. Output for people goes to stdout; logs go to stderr. */
import yargs from "yargs";
import { hideBin } from "yargs/helpers";
import { errorCode, errorMessage } from "../common/errors.js";
import { agentCommand } from "./commands/agent.js";
import { agentInstallSubcommands } from "./commands/agent-install.js";
import { caCommand } from "./commands/ca.js";
import { catalogCommand, certsCommand, participantsCommand } from "./commands/inspect.js";
import { controllerCommand } from "./commands/controller.js";
import { demoCommand } from "./commands/demo.js";
import { proxiesCommand, proxyCommand, tokenCommand } from "./commands/tokens.js";
import { validateCommand } from "./commands/validate.js";
import { namespaceCommand } from "./commands/namespace.js";
import { installCommand } from "./commands/install.js";
import { versionCommand } from "./commands/version.js";
import { meshfedVersion } from "../common/version.js";

const cli = yargs(hideBin(process.argv))
  .scriptName("meshfed")
  .usage("$0 <command> [options]")
  .strict()
  .demandCommand(1, "name a command")
  .recommendCommands()
  .help()
  .alias("h", "help")
  .version(meshfedVersion())
  .fail((message, err) => {
    if (err) {
      process.stderr.write(`meshfed: ${errorCode(err)}: ${errorMessage(err)}\n`);
    } else {
      process.stderr.write(`meshfed: ${message}\nRun meshfed --help for usage.\n`);
    }
    process.exit(err ? 1 : 2);
  });

controllerCommand(cli);
agentCommand(cli, agentInstallSubcommands);
demoCommand(cli);
installCommand(cli);
namespaceCommand(cli);
versionCommand(cli);
catalogCommand(cli);
participantsCommand(cli);
certsCommand(cli);
caCommand(cli);
tokenCommand(cli);
proxiesCommand(cli);
proxyCommand(cli);
validateCommand(cli);

await cli.parseAsync();
