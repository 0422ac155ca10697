/**
 * `meshfed uninstall --mesh-name X`: deletes what installs of mesh X made —
 * every object labelled `app.kubernetes.io/managed-by=meshfed` and
 * `meshfed.io/mesh-name=X`, of the kinds an install makes, in reverse apply
 * order (the webhook first, so no pod creation waits on a controller being
 * removed) — and nothing else.
 *
 * Kept unless asked, as `osm uninstall mesh` keeps them: the CRDs
 * (`--delete-crds`; deleting one deletes every policy object of its kind in
 * the cluster, and other meshes may use them) and the namespace
 * (`--delete-namespace`; it holds the controller's state Secrets, the mesh
 * CA among them, which the controller made and the install did not).
 */
import type { KubeConfig } from "@kubernetes/client-node";
import { InstallClient } from "./kube-objects.js";
import { describe } from "./manifest.js";
import { installKinds, installSelector } from "./manifests.js";
import { resolveValues } from "./values.js";

export interface UninstallOptions {
  readonly kubeConfig: KubeConfig;
  readonly meshName: string;
  readonly deleteCrds?: boolean;
  readonly deleteNamespace?: boolean;
  readonly onDeleted?: (object: string) => void;
}

export interface UninstallResult {
  readonly deleted: string[];
  /** Objects of the install left in place on purpose (CRDs, the namespace), with the flag that removes them. */
  readonly kept: Array<{ object: string; flag: string }>;
}

export async function uninstall(options: UninstallOptions): Promise<UninstallResult> {
  const client = new InstallClient(options.kubeConfig);
  const selector = installSelector(options.meshName);
  const result: UninstallResult = { deleted: [], kept: [] };
  // Validates the name too (a DNS label), as install did.
  const kinds = installKinds(resolveValues({ set: [`meshName=${options.meshName}`] })).reverse();
  for (const { apiVersion, kind } of kinds) {
    const keepFlag = kind === "CustomResourceDefinition" && options.deleteCrds !== true ? "--delete-crds" : kind === "Namespace" && options.deleteNamespace !== true ? "--delete-namespace" : undefined;
    for (const o of await client.list(apiVersion, kind, selector)) {
      if (keepFlag !== undefined) {
        result.kept.push({ object: describe(o), flag: keepFlag });
        continue;
      }
      if (await client.delete(o)) {
        result.deleted.push(describe(o));
        options.onDeleted?.(describe(o));
      }
    }
  }
  return result;
}
