/**
 * `meshfed install` and `meshfed uninstall` (src/cli/install/; docs/operations.md
 * "Install, upgrade, uninstall"). `--dry-run` prints the manifests and loads no
 * kubeconfig at all, so it contacts nothing.
 */
import type { Argv } from "yargs";
import { parseDuration } from "../../common/duration.js";
import { loadKubeConfig } from "../../controller/kube/index.js";
import { install } from "../install/install.js";
import { buildManifests, manifestsYaml } from "../install/manifests.js";
import { uninstall } from "../install/uninstall.js";
import { readValuesFile, resolveValues } from "../install/values.js";

interface ClusterArgs {
  kubeconfig?: string;
  context?: string;
}

interface InstallArgs extends ClusterArgs {
  meshName?: string;
  namespace?: string;
  set: string[];
  values: string[];
  dryRun: boolean;
  output: "yaml" | "json";
  force: boolean;
  wait: boolean;
  timeout: string;
}

interface UninstallArgs extends ClusterArgs {
  meshName: string;
  deleteCrds: boolean;
  deleteNamespace: boolean;
}

const clusterOptions = {
  kubeconfig: { type: "string", describe: "kubeconfig file (default: $KUBECONFIG, ~/.kube/config, or in-cluster)" },
  context: { type: "string", describe: "kubeconfig context" },
} as const;

export function installCommand(yargs: Argv) {
  return yargs
    .command<InstallArgs>(
      "install",
      "install or upgrade the mesh in a Kubernetes cluster (server-side apply; run it again with changed values to upgrade)",
      (y) =>
        y
          .options(clusterOptions)
          .option("mesh-name", { type: "string", describe: "the install's name (default meshfed): namespaces join it with `meshfed namespace add`; same as --set meshName=" })
          .option("namespace", { type: "string", describe: "the controller's namespace (default meshfed-system); same as --set namespace=" })
          .option("set", { type: "string", array: true, default: [], describe: "a value, key=value with a dotted key (repeatable; wins over -f)" })
          .option("values", { alias: "f", type: "string", array: true, default: [], describe: "a YAML file of values (repeatable; later files win)" })
          .option("dry-run", { type: "boolean", default: false, describe: "print the manifests and contact nothing" })
          .option("output", { alias: "o", choices: ["yaml", "json"] as const, default: "yaml" as const, describe: "--dry-run's format" })
          .option("force", { type: "boolean", default: false, describe: "take over fields someone else changed since the last install (server-side apply conflicts)" })
          .option("wait", { type: "boolean", default: true, describe: "wait until the controller Deployment is available (--no-wait: do not)" })
          .option("timeout", { type: "string", default: "5m", describe: "how long --wait waits" }),
      async (argv) => {
        const set = [...argv.set];
        // The flags are the last word, as osm's --mesh-name and --osm-namespace.
        if (argv.meshName !== undefined) set.push(`meshName=${argv.meshName}`);
        if (argv.namespace !== undefined) set.push(`namespace=${argv.namespace}`);
        const values = resolveValues({ files: argv.values.map((f) => ({ name: f, values: readValuesFile(f) })), set });
        const objects = buildManifests(values);
        if (argv.dryRun) {
          process.stdout.write(argv.output === "json" ? `${JSON.stringify({ apiVersion: "v1", kind: "List", items: objects }, null, 2)}\n` : manifestsYaml(objects));
          return;
        }
        const timeoutMs = parseDuration(argv.timeout);
        const kubeConfig = loadKubeConfig({ kubeconfig: argv.kubeconfig, context: argv.context });
        const steps = await install({
          kubeConfig, values, force: argv.force,
          wait: argv.wait ? { timeoutMs } : undefined,
          onStep: (s) => process.stdout.write(`${s.action.padEnd(10)} ${s.object}\n`),
        });
        const changed = steps.filter((s) => s.action !== "unchanged").length;
        process.stdout.write(`mesh ${values.meshName} ${changed === 0 ? "is up to date" : "applied"} in namespace ${values.namespace} (${steps.length} objects, ${changed} changed)${argv.wait ? "; the controller is available" : ""}\n`);
        process.stdout.write(`next: meshfed namespace add NS --mesh-name ${values.meshName}\n`);
      },
    )
    .command<UninstallArgs>(
      "uninstall",
      "remove what `meshfed install` made for a mesh, and nothing else (CRDs and the namespace stay unless asked)",
      (y) =>
        y
          .options(clusterOptions)
          .option("mesh-name", { type: "string", default: "meshfed", describe: "the install's name" })
          .option("delete-crds", { type: "boolean", default: false, describe: "also delete the CRDs, and with them every policy object of their kinds in the cluster" })
          .option("delete-namespace", { type: "boolean", default: false, describe: "also delete the namespace, and with it the controller's state (the mesh CA)" }),
      async (argv) => {
        const kubeConfig = loadKubeConfig({ kubeconfig: argv.kubeconfig, context: argv.context });
        const r = await uninstall({
          kubeConfig, meshName: argv.meshName, deleteCrds: argv.deleteCrds, deleteNamespace: argv.deleteNamespace,
          onDeleted: (o) => process.stdout.write(`deleted    ${o}\n`),
        });
        for (const k of r.kept) process.stdout.write(`kept       ${k.object} (${k.flag} removes it)\n`);
        process.stdout.write(r.deleted.length === 0 && r.kept.length === 0 ? `no objects of mesh ${argv.meshName} found\n` : `mesh ${argv.meshName}: ${r.deleted.length} objects deleted, ${r.kept.length} kept\n`);
      },
    );
}
