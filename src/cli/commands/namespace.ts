/** `meshfed namespace add|remove|list`: label Kubernetes namespaces into or out of the mesh (mesh-namespaces.ts). */
import type { Argv } from "yargs";
import { DEFAULT_CONTROLLER_NAMESPACE, loadKubeConfig } from "../../controller/kube/index.js";
import { MeshNamespaces } from "../mesh-namespaces.js";

interface NamespaceArgs {
  kubeconfig?: string;
  context?: string;
  meshName: string;
  controllerNamespace: string;
}

function open(argv: NamespaceArgs): MeshNamespaces {
  const kubeConfig = loadKubeConfig({ kubeconfig: argv.kubeconfig, context: argv.context });
  return new MeshNamespaces(kubeConfig, { meshName: argv.meshName, controllerNamespace: argv.controllerNamespace });
}

export function namespaceCommand(yargs: Argv) {
  return yargs.command<NamespaceArgs>(
    "namespace",
    "add Kubernetes namespaces to the mesh (their Services are discovered, their new pods get sidecars) or remove them",
    (y) =>
      y
        .option("kubeconfig", { type: "string", describe: "kubeconfig file (default: $KUBECONFIG, ~/.kube/config, or in-cluster)" })
        .option("context", { type: "string", describe: "kubeconfig context" })
        .option("mesh-name", { type: "string", default: "meshfed", describe: "the mesh's name (the controller's providers.kubernetes.meshName)" })
        .option("controller-namespace", { type: "string", default: DEFAULT_CONTROLLER_NAMESPACE, describe: "the controller's namespace, which never joins" })
        .command<NamespaceArgs & { namespaces: string[] }>("add <namespaces..>", "label namespaces meshfed.io/monitored-by=<mesh name>", (c) => c, async (argv) => {
          const mesh = open(argv);
          for (const ns of argv.namespaces) {
            const r = await mesh.add(ns);
            process.stdout.write(r.changed ? `namespace ${ns} joined mesh ${argv.meshName}: pods created from now on get sidecars (restart existing ones)\n` : `namespace ${ns} is already in mesh ${argv.meshName}\n`);
          }
        })
        .command<NamespaceArgs & { namespaces: string[] }>("remove <namespaces..>", "remove the mesh's label (running sidecars stay until their pods restart)", (c) => c, async (argv) => {
          const mesh = open(argv);
          for (const ns of argv.namespaces) {
            const r = await mesh.remove(ns);
            process.stdout.write(r.changed ? `namespace ${ns} left mesh ${argv.meshName}: restart its pods to remove their sidecars\n` : `namespace ${ns} was not in mesh ${argv.meshName}\n`);
          }
        })
        .command<NamespaceArgs>("list", "namespaces in the mesh", (c) => c, async (argv) => {
          for (const ns of await open(argv).list()) process.stdout.write(`${ns}\n`);
        })
        .demandCommand(1, "name a subcommand: add, remove or list"),
    () => undefined,
  );
}
