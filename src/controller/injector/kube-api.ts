/**
 * The injector's writes to the Kubernetes API, behind a small interface so
 * the injector's logic does not depend on client-node. The verbs here are
 * exactly what the RBAC in config/kubernetes/rbac.yaml grants for them
 * (INJECTOR_API_USE; the manifest test checks the two agree).
 */
import { AdmissionregistrationV1Api, CoreV1Api, type KubeConfig, type V1MutatingWebhookConfiguration } from "@kubernetes/client-node";
import { errorMessage, MeshfedError } from "../../common/errors.js";
import { httpStatusOf } from "../kube/errors.js";
import type { JsonPatchOp } from "../drivers/types.js";
import { INJECTOR_ERROR } from "./errors.js";
import type { WebhookScopeView } from "./webhook-scope.js";

/** API group, resource and verbs the injector uses. */
export const INJECTOR_API_USE = [
  { group: "", resource: "secrets", verbs: ["create", "delete", "patch"] },
  { group: "", resource: "namespaces", verbs: ["get"] },
  { group: "admissionregistration.k8s.io", resource: "mutatingwebhookconfigurations", verbs: ["get", "patch"] },
] as const;

export interface BootstrapSecret {
  readonly namespace: string;
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  /** File name -> content (PEM text). */
  readonly files: Readonly<Record<string, string>>;
}

export interface WebhookConfigurationView {
  readonly resourceVersion: string;
  readonly webhooks: ReadonlyArray<WebhookScopeView & { readonly caBundle: string | undefined }>;
}

export interface InjectorKubeApi {
  createSecret(secret: BootstrapSecret): Promise<void>;
  /**
   * Replaces files (and sets annotations) of a Secret by name, never reading it
   * (a JSON patch); resolves false when the Secret does not exist.
   */
  patchSecret(namespace: string, name: string, files: Readonly<Record<string, string>>, annotations: Readonly<Record<string, string>>): Promise<boolean>;
  /** Deletes by name, never reading it; a Secret already gone counts as deleted. */
  deleteSecret(namespace: string, name: string): Promise<void>;
  /** The namespace's labels; undefined when it does not exist. */
  getNamespaceLabels(name: string): Promise<Readonly<Record<string, string>> | undefined>;
  /** undefined when the object does not exist. */
  getWebhookConfiguration(name: string): Promise<WebhookConfigurationView | undefined>;
  /** JSON patch; rejects with the HTTP status on a conflict so the caller can re-read. */
  patchWebhookConfiguration(name: string, patch: readonly JsonPatchOp[]): Promise<void>;
}

export class ClientNodeInjectorApi implements InjectorKubeApi {
  readonly #core: CoreV1Api;
  readonly #admission: AdmissionregistrationV1Api;

  constructor(kubeConfig: KubeConfig) {
    this.#core = kubeConfig.makeApiClient(CoreV1Api);
    this.#admission = kubeConfig.makeApiClient(AdmissionregistrationV1Api);
  }

  async createSecret(secret: BootstrapSecret): Promise<void> {
    try {
      await this.#core.createNamespacedSecret({
        namespace: secret.namespace,
        body: {
          apiVersion: "v1", kind: "Secret", type: "Opaque",
          metadata: { name: secret.name, namespace: secret.namespace, labels: { ...secret.labels }, annotations: { ...secret.annotations } },
          stringData: { ...secret.files },
        },
      });
    } catch (err) {
      throw kubeError(INJECTOR_ERROR.secret, `create Secret ${secret.namespace}/${secret.name}`, err);
    }
  }

  async patchSecret(namespace: string, name: string, files: Readonly<Record<string, string>>, annotations: Readonly<Record<string, string>>): Promise<boolean> {
    try {
      await this.#core.patchNamespacedSecret({ namespace, name, body: secretPatch(files, annotations) });
      return true;
    } catch (err) {
      if (httpStatusOf(err) === 404) return false;
      throw kubeError(INJECTOR_ERROR.secret, `patch Secret ${namespace}/${name}`, err);
    }
  }

  async deleteSecret(namespace: string, name: string): Promise<void> {
    try {
      await this.#core.deleteNamespacedSecret({ namespace, name });
    } catch (err) {
      if (httpStatusOf(err) === 404) return;
      throw kubeError(INJECTOR_ERROR.secret, `delete Secret ${namespace}/${name}`, err);
    }
  }

  async getNamespaceLabels(name: string): Promise<Readonly<Record<string, string>> | undefined> {
    try {
      return (await this.#core.readNamespace({ name })).metadata?.labels ?? {};
    } catch (err) {
      if (httpStatusOf(err) === 404) return undefined;
      throw kubeError(INJECTOR_ERROR.namespace, `get Namespace ${name}`, err);
    }
  }

  async getWebhookConfiguration(name: string): Promise<WebhookConfigurationView | undefined> {
    let object: V1MutatingWebhookConfiguration;
    try {
      object = await this.#admission.readMutatingWebhookConfiguration({ name });
    } catch (err) {
      if (httpStatusOf(err) === 404) return undefined;
      throw kubeError(INJECTOR_ERROR.caBundle, `get MutatingWebhookConfiguration ${name}`, err);
    }
    return {
      resourceVersion: object.metadata?.resourceVersion ?? "",
      // client-node models caBundle (bytes) as a base64 string.
      webhooks: (object.webhooks ?? []).map((w) => ({
        name: w.name, caBundle: w.clientConfig?.caBundle ?? undefined, failurePolicy: w.failurePolicy, namespaceSelector: w.namespaceSelector,
      })),
    };
  }

  async patchWebhookConfiguration(name: string, patch: readonly JsonPatchOp[]): Promise<void> {
    try {
      // client-node sends a plain array body as application/json-patch+json.
      await this.#admission.patchMutatingWebhookConfiguration({ name, body: patch });
    } catch (err) {
      throw kubeError(INJECTOR_ERROR.caBundle, `patch MutatingWebhookConfiguration ${name}`, err);
    }
  }
}

/** "add" replaces a member that exists (RFC 6902 §4.1); the Secret has data and annotations from its creation. */
export function secretPatch(files: Readonly<Record<string, string>>, annotations: Readonly<Record<string, string>>): JsonPatchOp[] {
  const pointer = (key: string) => key.replaceAll("~", "~0").replaceAll("/", "~1");
  return [
    ...Object.entries(files).map(([k, v]) => ({ op: "add" as const, path: `/data/${pointer(k)}`, value: Buffer.from(v, "utf8").toString("base64") })),
    ...Object.entries(annotations).map(([k, v]) => ({ op: "add" as const, path: `/metadata/annotations/${pointer(k)}`, value: v })),
  ];
}

function kubeError(code: string, what: string, err: unknown): MeshfedError {
  const status = httpStatusOf(err);
  const hint = status === 401 || status === 403 ? " (check the controller's RBAC, config/kubernetes/rbac.yaml)" : "";
  return new MeshfedError(code, `${what}: ${status === undefined ? errorMessage(err) : `HTTP ${status}`}${hint}`, {
    cause: err, details: status === undefined ? {} : { status },
  });
}
