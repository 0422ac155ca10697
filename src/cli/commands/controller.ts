/** `meshfed controller`: run the control plane until SIGINT/SIGTERM. */
import type { Argv } from "yargs";
import { createLogger } from "../../common/logger.js";
import { loadControllerConfig } from "../../controller/config/load.js";
import type { ControllerConfig } from "../../controller/config/schema.js";
import { startController } from "../../controller/main.js";
import { LOG_LEVELS } from "../../common/logger.js";
import { closeOnSignals } from "../signals.js";

interface ControllerArgs {
  config?: string;
  dataDir?: string;
  adminAddress?: string;
  grpcAddress?: string;
  hosts?: string;
  smi?: string;
  logLevel?: string;
  kubeconfig?: string;
  store?: string;
}

export function controllerCommand(yargs: Argv) {
  return yargs.command<ControllerArgs>(
    "controller",
    "run the controller (flags override the config file)",
    (y) =>
      y
        .option("config", { type: "string", describe: "controller config file (YAML); see docs/configuration.md" })
        .option("data-dir", { type: "string", describe: "state directory: CA, certificate registry (default ./meshfed-data)" })
        .option("admin-address", { type: "string", describe: "admin API host:port (default 127.0.0.1:15000)" })
        .option("grpc-address", { type: "string", describe: "agent gRPC host:port (default 0.0.0.0:15128)" })
        .option("hosts", { type: "string", describe: "on-prem hosts file; enables the on-prem provider" })
        .option("smi", { type: "string", describe: "directory of SMI manifests" })
        .option("kubeconfig", { type: "string", describe: "kubeconfig file; enables the Kubernetes provider (or providers.kubernetes in the config)" })
        .option("store", { type: "string", describe: "state store: file (the data dir, default), kubernetes (Secrets; needs providers.kubernetes) or etcd://host:port[,host:port...] for replicas; see docs/ha.md" })
        .option("log-level", { choices: LOG_LEVELS, describe: "log level (logs go to stderr as JSON lines)" }),
    async (argv) => {
      const config = await loadControllerConfig(argv.config, {
        dataDir: argv.dataDir, adminAddress: argv.adminAddress, grpcAddress: argv.grpcAddress,
        hostsFile: argv.hosts, smiDirectory: argv.smi, logLevel: argv.logLevel, kubeconfig: argv.kubeconfig, store: argv.store,
      });
      const logger = createLogger(config.logLevel);
      const controller = await startController(config, logger);
      process.stdout.write(whereToLook(controller.adminUrl, controller.grpcAddress, config));

      closeOnSignals(() => controller.close(), config.shutdownTimeout, logger);
    },
  );
}

/**
 * How to call the CLI from here: under `npm run demo` the `meshfed` binary is
 * not on PATH (npm links a package's bin only when it is installed), so say
 * the command that works in a fresh clone.
 */
export function cliInvocation(): string {
  return process.env.npm_lifecycle_event === "demo" ? "node dist/src/cli/main.js" : "meshfed";
}

export function whereToLook(adminUrl: string, grpcAddress: string, config: ControllerConfig): string {
  const admin = adminUrl === "http://127.0.0.1:15000" ? "" : ` --admin ${adminUrl}`;
  const cli = cliInvocation();
  const rows = [
    ["admin API", adminUrl],
    ["status page", `${adminUrl}/ui`],
    ["agent gRPC", grpcAddress],
    ["catalog", `${cli} catalog${admin}        (${adminUrl}/api/v1/catalog)`],
    ["participants", `${cli} participants --explain${admin}`],
    ["certificates", `${cli} certs list${admin}`],
    ["proxies", `${cli} proxies${admin}`],
    ["join token", `${cli} token create --service NAMESPACE/NAME${admin}`],
    ["providers", `${adminUrl}/api/v1/providers`],
    ["metrics", `${adminUrl}/metrics`],
    config.store === "file" ? ["data dir", config.dataDir] : ["state store", config.store],
    ["hosts file", config.providers.onprem?.hostsFile ?? "(none: pass --hosts FILE)"],
    ["SMI policies", config.spec.files?.directory ?? "(none: pass --smi DIR)"],
  ];
  const width = Math.max(...rows.map((r) => r[0]!.length));
  return `meshfed controller ready\n${rows.map(([k, v]) => `  ${k!.padEnd(width)}  ${v}`).join("\n")}\nEdit the hosts file or the SMI directory and watch the catalog change. Ctrl-C stops.\n`;
}
