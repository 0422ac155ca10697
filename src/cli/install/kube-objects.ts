/**
 * The few calls install and uninstall make, through client-node's generic
 * KubernetesObjectApi (it finds each kind's path by API discovery).
 */
import { KubernetesObjectApi, PatchStrategy, loadYaml, type KubeConfig, type KubernetesObject } from "@kubernetes/client-node";
import { MeshfedError } from "../../common/errors.js";
import { httpStatusOf } from "../../controller/kube/errors.js";
import { describe, type Manifest } from "./manifest.js";
import { FIELD_MANAGER } from "./manifests.js";
import { INSTALL_ERRORS } from "./values.js";

export interface LiveObject extends KubernetesObject {
  metadata?: KubernetesObject["metadata"] & { generation?: number };
  spec?: unknown;
  status?: unknown;
}

export function apiMessage(err: unknown): string {
  const e = err as { code?: unknown; body?: unknown; message?: unknown };
  const body = typeof e.body === "string" ? e.body : JSON.stringify(e.body ?? "");
  const reason = /"message":\s*"((?:[^"\\]|\\.)*)"/.exec(body)?.[1];
  return `${typeof e.code === "number" ? `HTTP ${e.code}: ` : ""}${reason ?? (typeof e.message === "string" ? e.message : String(err))}`;
}

/** client-node's own errors for a kind API discovery does not list (no HTTP status on them). */
function notServedMessage(err: unknown): boolean {
  return /Unrecognized API version and kind|Failed to fetch resource metadata/.test(err instanceof Error ? err.message : String(err));
}

export class InstallClient {
  readonly #api: KubernetesObjectApi;

  constructor(kubeConfig: KubeConfig) {
    this.#api = KubernetesObjectApi.makeApiClient(kubeConfig);
  }

  /** The live object, or undefined when there is none. */
  async read(o: Manifest): Promise<LiveObject | undefined> {
    try {
      return await this.#api.read<LiveObject>({ apiVersion: o.apiVersion, kind: o.kind, metadata: { name: o.metadata.name, ...(o.metadata.namespace === undefined ? {} : { namespace: o.metadata.namespace }) } });
    } catch (err) {
      // Not found, or its kind not served yet (a custom resource whose CRD this install brings).
      if (httpStatusOf(err) === 404 || notServedMessage(err)) return undefined;
      throw new MeshfedError(INSTALL_ERRORS.api, `reading ${describe(o)} failed: ${apiMessage(err)}`, { cause: err });
    }
  }

  /** Server-side apply as FIELD_MANAGER; a field someone else owns is a conflict unless `force`. */
  async apply(o: Manifest, force: boolean): Promise<LiveObject> {
    // client-node serializes a known kind through its generated model, which
    // reads the model's property names (xKubernetesPreserveUnknownFields), not
    // the wire names (x-kubernetes-preserve-unknown-fields) a plain object has:
    // loadYaml turns the plain object into that model first, so nothing is dropped.
    const body = loadYaml<LiveObject>(JSON.stringify(o));
    try {
      return await this.#api.patch<LiveObject>(body, undefined, undefined, FIELD_MANAGER, force, PatchStrategy.ServerSideApply);
    } catch (err) {
      if (httpStatusOf(err) === 409) {
        throw new MeshfedError(INSTALL_ERRORS.conflict, `${describe(o)}: ${apiMessage(err)}; someone else changed fields the install sets: run again with --force to take them back, or carry the change in --set / -f`, { cause: err });
      }
      // The kind is not served (yet): a custom resource applied right after its CRD.
      const notServed = httpStatusOf(err) === 404 || notServedMessage(err);
      throw new MeshfedError(INSTALL_ERRORS.api, `applying ${describe(o)} failed: ${apiMessage(err)}`, { cause: err, details: { notServed } });
    }
  }

  /** Every object of a kind carrying the labels of `selector`, in every namespace; none when the kind is not served. */
  async list(apiVersion: string, kind: string, selector: string): Promise<LiveObject[]> {
    try {
      const list = await this.#api.list<LiveObject>(apiVersion, kind, undefined, undefined, undefined, undefined, undefined, selector);
      return list.items.map((i) => ({ ...i, apiVersion, kind }));
    } catch (err) {
      const status = httpStatusOf(err);
      // A kind the cluster does not serve (its CRD deleted) has nothing of ours.
      if (status === 404 || notServedMessage(err)) return [];
      throw new MeshfedError(INSTALL_ERRORS.api, `listing ${kind} (${selector}) failed: ${apiMessage(err)}`, { cause: err });
    }
  }

  /** Deletes an object; false when it was already gone. */
  async delete(o: LiveObject): Promise<boolean> {
    try {
      await this.#api.delete(o, undefined, undefined, undefined, undefined, "Background");
      return true;
    } catch (err) {
      if (httpStatusOf(err) === 404) return false;
      throw new MeshfedError(INSTALL_ERRORS.api, `deleting ${describe(o)} failed: ${apiMessage(err)}`, { cause: err });
    }
  }
}
