/**
 * `meshfed version`: this CLI's version, the controller's (from
 * `/api/v1/replica`) and the versions the connected agents and their Pipy
 * report on their streams (`/api/v1/proxies`), counted. Without a reachable
 * controller it still prints the CLI's version and says why the rest is
 * missing, so it works as the first thing to run on a broken install.
 */
import type { Argv } from "yargs";
import { errorCode, errorMessage } from "../../common/errors.js";
import { meshfedVersion } from "../../common/version.js";
import { adminClientOptions, adminGet } from "../admin-client.js";
import { adminOptions, outputOption, printResult, type OutputFormat } from "../output.js";

interface VersionArgs {
  output: OutputFormat;
  admin?: string;
  adminTokenFile?: string;
}

export interface VersionReport {
  readonly cli: string;
  readonly controller: { readonly version: string; readonly replicaId: string } | { readonly error: { readonly code: string; readonly message: string } };
  readonly agents: ReadonlyArray<{ readonly agentVersion: string; readonly proxyVersion: string; readonly count: number }>;
}

/** Agent and Pipy versions of the connected proxies, one row per pair, most common first. */
export function countVersions(proxies: ReadonlyArray<{ agentVersion?: string; proxyVersion?: string }>): VersionReport["agents"] {
  const counts = new Map<string, { agentVersion: string; proxyVersion: string; count: number }>();
  for (const p of proxies) {
    const agentVersion = p.agentVersion || "unknown";
    const proxyVersion = p.proxyVersion || "none";
    const key = `${agentVersion}\0${proxyVersion}`;
    const row = counts.get(key) ?? { agentVersion, proxyVersion, count: 0 };
    row.count += 1;
    counts.set(key, row);
  }
  return [...counts.values()].sort((a, b) => b.count - a.count || a.agentVersion.localeCompare(b.agentVersion) || a.proxyVersion.localeCompare(b.proxyVersion));
}

export function versionCommand(yargs: Argv) {
  return yargs.command<VersionArgs>(
    "version",
    "versions of this CLI, the controller, and the connected agents and their Pipy",
    (y) => y.option("output", outputOption).options(adminOptions),
    async (argv) => {
      const client = adminClientOptions(argv);
      let report: VersionReport;
      try {
        const replica = (await adminGet(client, "api/v1/replica")) as { replicaId: string; version?: string };
        const proxies = (await adminGet(client, "api/v1/proxies")) as Array<{ agentVersion?: string; proxyVersion?: string }>;
        report = { cli: meshfedVersion(), controller: { version: replica.version ?? "unknown (older than 0.1)", replicaId: replica.replicaId }, agents: countVersions(proxies) };
      } catch (err) {
        report = { cli: meshfedVersion(), controller: { error: { code: errorCode(err), message: errorMessage(err) } }, agents: [] };
      }
      printResult(argv.output, report, () => ({
        header: ["COMPONENT", "VERSION", "COUNT"],
        rows: [
          ["cli", report.cli, "1"],
          "error" in report.controller
            ? ["controller", `unreachable: ${report.controller.error.code}`, "-"]
            : ["controller", `${report.controller.version} (replica ${report.controller.replicaId})`, "1"],
          ...report.agents.map((a) => ["agent", `${a.agentVersion} (pipy ${a.proxyVersion})`, String(a.count)]),
        ],
      }));
      if ("error" in report.controller) process.exitCode = 1;
    },
  );
}
