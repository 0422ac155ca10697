/** Test setup shared by the Kubernetes tests: a fake API server, a kubeconfig for it, waiting helpers. */
import { setMaxListeners } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { KubeConfig } from "@kubernetes/client-node";
import { loadKubeConfig } from "../../src/controller/kube/index.js";
import { FakeKubeApiServer, type ResourceName } from "./kube-api-server.js";
import type { CrdSchemas } from "./crd-schemas.js";

export interface KubeHarness {
  readonly api: FakeKubeApiServer;
  readonly kubeconfig: string;
  readonly kubeConfig: KubeConfig;
  readonly dir: string;
  readonly ac: AbortController;
}

/** Starts a fake API server (enforcing `crdSchemas` on writes, when given); `t.after` aborts the signal, then closes the server and removes the directory. */
export async function kubeHarness(t: { after: (fn: () => unknown) => void }, options: { namespace?: string; crdSchemas?: CrdSchemas; uninstalled?: readonly ResourceName[] } = {}): Promise<KubeHarness> {
  const dir = await mkdtemp(join(tmpdir(), "meshfed-kube-"));
  const api = await FakeKubeApiServer.start({
    ...(options.crdSchemas === undefined ? {} : { crdSchemas: options.crdSchemas }),
    ...(options.uninstalled === undefined ? {} : { uninstalled: options.uninstalled }),
  });
  const kubeconfig = await api.writeKubeconfig(dir, options.namespace === undefined ? {} : { namespace: options.namespace });
  const kubeConfig = loadKubeConfig({ kubeconfig });
  const ac = new AbortController();
  // One listener per informer and per backoff sleep: the SMI and policy kinds
  // alone are eight informers. main.ts lifts the limit on its stop signal too.
  setMaxListeners(0, ac.signal);
  t.after(async () => {
    ac.abort();
    await api.close();
    await rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
  });
  return { api, kubeconfig, kubeConfig, dir, ac };
}


/** Collects every value a source emits, so tests can assert on the whole sequence. */
export function recorder<T>(on: (fn: (value: T) => void) => () => void): { readonly values: T[]; off: () => void } {
  const values: T[] = [];
  const off = on((v) => values.push(v));
  return { values, off };
}
