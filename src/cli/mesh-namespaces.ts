/**
 * `meshfed namespace add|remove|list`: which Kubernetes namespaces belong to
 * the mesh. A namespace is meshed when it carries the label
 * `meshfed.io/monitored-by=<mesh name>` (MONITORED_BY_LABEL): the Kubernetes
 * provider then discovers its Services and the injector's webhook (whose
 * namespaceSelector matches the same label) adds sidecars to its new pods.
 *
 * Labels are changed with a JSON patch guarded by a `test` of the
 * resourceVersion, so an edit made by someone else between our read and our
 * write is never overwritten: the patch fails and is retried on a fresh read.
 */
import { CoreV1Api, type KubeConfig, type V1Namespace } from "@kubernetes/client-node";
import { MeshfedError } from "../common/errors.js";
import { CLUSTER_NAMESPACES } from "../controller/injector/webhook-scope.js";
import { MONITORED_BY_LABEL } from "../controller/kube/objects.js";

export const NAMESPACE_ERRORS = {
  notFound: "MESHFED_NAMESPACE_NOT_FOUND",
  otherMesh: "MESHFED_NAMESPACE_OTHER_MESH",
  protected: "MESHFED_NAMESPACE_PROTECTED",
  conflict: "MESHFED_NAMESPACE_CONFLICT",
  api: "MESHFED_NAMESPACE_API",
} as const;

export interface NamespaceChange {
  readonly namespace: string;
  /** false when the namespace was already in the wanted state. */
  readonly changed: boolean;
}

/** `/` in a label key is `~1` in a JSON pointer (RFC 6901). */
const LABEL_POINTER = `/metadata/labels/${MONITORED_BY_LABEL.replace(/~/g, "~0").replace(/\//g, "~1")}`;
const ATTEMPTS = 3;

function statusOf(err: unknown): number | undefined {
  const code = (err as { code?: unknown }).code;
  return typeof code === "number" ? code : undefined;
}

/** The three calls used; tests wrap the real client to interleave another writer. */
export type NamespaceApi = Pick<CoreV1Api, "readNamespace" | "patchNamespace" | "listNamespace">;

export class MeshNamespaces {
  readonly #core: NamespaceApi;
  readonly #meshName: string;
  /** Never meshed: the cluster's own and the controller's namespace (the webhook must not gate its own pods). */
  readonly #protected: ReadonlySet<string>;

  constructor(kubeConfig: KubeConfig, options: { meshName: string; controllerNamespace: string; api?: (real: CoreV1Api) => NamespaceApi }) {
    const real = kubeConfig.makeApiClient(CoreV1Api);
    this.#core = options.api?.(real) ?? real;
    this.#meshName = options.meshName;
    this.#protected = new Set([...CLUSTER_NAMESPACES, options.controllerNamespace]);
  }

  async add(namespace: string): Promise<NamespaceChange> {
    if (this.#protected.has(namespace)) {
      throw new MeshfedError(NAMESPACE_ERRORS.protected, `namespace ${namespace} cannot join the mesh: the cluster's own namespaces and the controller's (${[...this.#protected].join(", ")}) never get sidecars`);
    }
    return this.#update(namespace, (labels) => {
      const current = labels[MONITORED_BY_LABEL];
      if (current === this.#meshName) return undefined;
      if (current !== undefined) {
        throw new MeshfedError(NAMESPACE_ERRORS.otherMesh, `namespace ${namespace} already belongs to mesh "${current}" (label ${MONITORED_BY_LABEL}); remove it there first`);
      }
      return { op: "add", value: this.#meshName };
    });
  }

  async remove(namespace: string): Promise<NamespaceChange> {
    return this.#update(namespace, (labels) => {
      const current = labels[MONITORED_BY_LABEL];
      if (current === undefined) return undefined;
      if (current !== this.#meshName) {
        throw new MeshfedError(NAMESPACE_ERRORS.otherMesh, `namespace ${namespace} belongs to mesh "${current}", not "${this.#meshName}": left as it is`);
      }
      return { op: "remove" };
    });
  }

  /** Namespaces of this mesh, sorted. */
  async list(): Promise<string[]> {
    try {
      const list = await this.#core.listNamespace({ labelSelector: `${MONITORED_BY_LABEL}=${this.#meshName}` });
      return list.items.map((n) => n.metadata?.name ?? "").filter((n) => n !== "").sort();
    } catch (err) {
      throw new MeshfedError(NAMESPACE_ERRORS.api, `listing namespaces failed: ${apiMessage(err)}`, { cause: err });
    }
  }

  async #update(namespace: string, decide: (labels: Readonly<Record<string, string>>) => { op: "add"; value: string } | { op: "remove" } | undefined): Promise<NamespaceChange> {
    for (let attempt = 1; ; attempt++) {
      const ns = await this.#read(namespace);
      const labels = ns.metadata?.labels ?? {};
      const step = decide(labels);
      if (step === undefined) return { namespace, changed: false };
      const patch: object[] = [{ op: "test", path: "/metadata/resourceVersion", value: ns.metadata?.resourceVersion }];
      if (step.op === "add" && ns.metadata?.labels === undefined) patch.push({ op: "add", path: "/metadata/labels", value: {} });
      patch.push(step.op === "add" ? { op: "add", path: LABEL_POINTER, value: step.value } : { op: "remove", path: LABEL_POINTER });
      try {
        await this.#core.patchNamespace({ name: namespace, body: patch });
        return { namespace, changed: true };
      } catch (err) {
        // A failed test (422) or a conflict (409): someone changed it meanwhile; read again.
        const status = statusOf(err);
        if ((status === 409 || status === 422) && attempt < ATTEMPTS) continue;
        if (status === 409 || status === 422) throw new MeshfedError(NAMESPACE_ERRORS.conflict, `namespace ${namespace} kept changing under us (${ATTEMPTS} attempts); try again`, { cause: err });
        throw new MeshfedError(NAMESPACE_ERRORS.api, `patching namespace ${namespace} failed: ${apiMessage(err)}`, { cause: err });
      }
    }
  }

  async #read(namespace: string): Promise<V1Namespace> {
    try {
      return await this.#core.readNamespace({ name: namespace });
    } catch (err) {
      if (statusOf(err) === 404) throw new MeshfedError(NAMESPACE_ERRORS.notFound, `namespace ${namespace} does not exist`, { cause: err });
      throw new MeshfedError(NAMESPACE_ERRORS.api, `reading namespace ${namespace} failed: ${apiMessage(err)}`, { cause: err });
    }
  }
}

function apiMessage(err: unknown): string {
  const e = err as { code?: unknown; body?: unknown; message?: unknown };
  const body = typeof e.body === "string" ? e.body : "";
  const reason = /"message":\s*"([^"]*)"/.exec(body)?.[1];
  return `${typeof e.code === "number" ? `HTTP ${e.code}: ` : ""}${reason ?? (typeof e.message === "string" ? e.message : String(err))}`;
}
