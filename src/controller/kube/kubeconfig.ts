/**
 * How the controller and the CLI reach the API server: a client-node
 * KubeConfig from the `providers.kubernetes` settings or CLI flags, shared by
 * everything that talks to Kubernetes (the endpoint provider, the CRD spec
 * store, MeshConfig, the state store, leases, the injector, `meshfed
 * namespace`). docs/kubernetes.md documents every field.
 *
 * Which cluster, in order (the first that applies wins):
 *   1. `kubeconfig` (the `--kubeconfig` flag), with `context` if given;
 *   2. `inCluster: true`: the pod's service account (KUBERNETES_SERVICE_HOST/PORT,
 *      /var/run/secrets/kubernetes.io/serviceaccount);
 *   3. the KUBECONFIG environment variable (a path list, merged as kubectl does);
 *   4. `inCluster: "auto"` and KUBERNETES_SERVICE_HOST set: the service account;
 *   5. ~/.kube/config.
 * Unlike client-node's loadFromDefault we never fall back to an
 * unauthenticated http://localhost:8080: nothing found is an error.
 */
import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { MeshfedError, errorMessage } from "../../common/errors.js";
import type { Logger } from "../../common/logger.js";
import type { ControllerMetrics } from "../../common/metrics.js";
import { KUBE_ERROR_CODES } from "./errors.js";

export interface KubeConfigSource {
  readonly kubeconfig?: string | undefined;
  readonly context?: string | undefined;
  readonly inCluster?: boolean | "auto" | undefined;
}

export interface LoadKubeConfigOptions {
  readonly env?: NodeJS.ProcessEnv;
  /** Prefix of the service-account directory, for tests (client-node's loadFromCluster pathPrefix). */
  readonly inClusterPathPrefix?: string;
  readonly home?: string;
}

/** Builds the KubeConfig named by `source`; throws MESHFED_KUBE_CONFIG with the reason when none is usable. */
export function loadKubeConfig(source: KubeConfigSource, options: LoadKubeConfigOptions = {}): KubeConfig {
  const env = options.env ?? process.env;
  const kc = new KubeConfig();
  const inCluster = source.inCluster ?? "auto";
  const fail = (message: string, cause?: unknown): never => {
    throw new MeshfedError(KUBE_ERROR_CODES.config, message, { cause, details: { kubeconfig: source.kubeconfig, context: source.context } });
  };
  const fromFile = (file: string): void => {
    if (!existsSync(file)) fail(`kubeconfig ${file} not found`);
    try {
      kc.loadFromFile(file);
    } catch (err) {
      fail(`kubeconfig ${file}: ${errorMessage(err)}`, err);
    }
  };
  const fromCluster = (): void => {
    if (!env.KUBERNETES_SERVICE_HOST || !env.KUBERNETES_SERVICE_PORT) {
      fail("inCluster is set but KUBERNETES_SERVICE_HOST/KUBERNETES_SERVICE_PORT are not: not running in a pod?");
    }
    // client-node reads process.env; a test passing its own env must set both.
    kc.loadFromCluster(options.inClusterPathPrefix ?? "");
  };

  let how: string;
  if (source.kubeconfig !== undefined && inCluster !== true) {
    fromFile(source.kubeconfig);
    how = source.kubeconfig;
  } else if (inCluster === true) {
    fromCluster();
    how = "in-cluster";
  } else if (env.KUBECONFIG) {
    const files = env.KUBECONFIG.split(process.platform === "win32" ? ";" : ":").filter((f) => f.length > 0);
    const [first, ...rest] = files;
    if (first === undefined) fail("KUBECONFIG is set but names no file");
    fromFile(first!);
    for (const file of rest) {
      if (!existsSync(file)) continue; // kubectl skips missing entries of the list too
      const more = new KubeConfig();
      try {
        more.loadFromFile(file);
        kc.mergeConfig(more, true);
      } catch (err) {
        fail(`kubeconfig ${file} (from KUBECONFIG): ${errorMessage(err)}`, err);
      }
    }
    how = `KUBECONFIG=${env.KUBECONFIG}`;
  } else if (inCluster === "auto" && env.KUBERNETES_SERVICE_HOST && env.KUBERNETES_SERVICE_PORT) {
    fromCluster();
    how = "in-cluster";
  } else {
    const file = join(options.home ?? homedir(), ".kube", "config");
    if (!existsSync(file)) fail(`no Kubernetes configuration: give --kubeconfig, set KUBECONFIG, run in a pod, or create ${file}`);
    fromFile(file);
    how = file;
  }
  if (source.context !== undefined) {
    if (kc.getContextObject(source.context) === null) {
      fail(`${how}: context "${source.context}" not found (known: ${kc.getContexts().map((c) => c.name).join(", ") || "none"})`);
    }
    kc.setCurrentContext(source.context);
  }
  const cluster = kc.getCurrentCluster();
  if (cluster === null) fail(`${how}: the current context "${kc.getCurrentContext()}" names no cluster`);
  return kc;
}

/** The namespace of the current context (in a pod: the pod's namespace), if any. */
export function contextNamespace(kc: KubeConfig): string | undefined {
  const ns = kc.getContextObject(kc.getCurrentContext())?.namespace?.trim();
  return ns === undefined || ns === "" ? undefined : ns;
}

/** What every Kubernetes-backed part is built with. */
export interface KubeDeps {
  readonly logger: Logger;
  readonly metrics?: ControllerMetrics;
  /** Built once by the caller (loadKubeConfig) and shared by the provider, the SMI store and MeshConfig. */
  readonly kubeConfig: KubeConfig;
}
