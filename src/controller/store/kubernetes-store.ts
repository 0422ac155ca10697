/**
 * A StateStore on Kubernetes Secrets (DESIGN.md §4 "HA: in a cluster the
 * shared state lives in Kubernetes"): one Secret per key in the controller's
 * namespace, named `meshfed-state-<sha256(key) prefix>` (store keys allow `_`
 * and `/`, object names do not), the key in the annotation
 * `meshfed.io/state-key` and the bytes in `data.value`. Labelled
 * `meshfed.io/state=<store name>` so list() is one labelled list.
 *
 * Optimistic concurrency: the store remembers the resourceVersion it last
 * read or wrote for each key and every write carries it. If another replica
 * changed the key in between, the API server answers 409 and put() fails with
 * MESHFED_STORE_CONFLICT instead of overwriting a write it never saw; the
 * caller reads again. A put of a key this store has never seen is a create,
 * and an existing object is the same conflict.
 *
 * create() is a plain create (409 AlreadyExists: false); compareAndPut()
 * reads the Secret, compares the bytes and replaces it carrying the
 * resourceVersion it read, so a writer in between makes it answer false.
 *
 * `store: kubernetes` selects it (one replica). Several replicas need leader
 * election (a Lease) and a watch that follows other replicas' writes (an
 * informer on the labelled Secrets); until then watch() reports this
 * process's own writes only, which is all one replica needs. Values are
 * limited to ~1 MiB per Secret.
 */
import { createHash } from "node:crypto";
import { CoreV1Api, type KubeConfig, type V1Secret } from "@kubernetes/client-node";
import { errorMessage, MeshfedError } from "../../common/errors.js";
import { httpStatusOf } from "../providers/kubernetes/errors.js";
import { Listeners } from "../../common/emitter.js";
import { sameBytes, type PutOptions, type StateStore, type StoreChange } from "./types.js";

const KEY = /^[a-z0-9._-]+(\/[a-z0-9._-]+)*$/;
export const STATE_KEY_ANNOTATION = "meshfed.io/state-key";
export const STATE_LABEL = "meshfed.io/state";

export const STORE_ERROR = {
  badKey: "MESHFED_STORE_BAD_KEY",
  conflict: "MESHFED_STORE_CONFLICT",
  api: "MESHFED_STORE_KUBE",
} as const;

/** What this store asks of the API server, in the controller's namespace (config/kubernetes/rbac.yaml grants exactly this). */
export const STORE_API_USE = [{ group: "", resource: "secrets", verbs: ["get", "list", "create", "update", "delete"] }] as const;

export interface KubernetesStoreOptions {
  readonly kubeConfig: KubeConfig;
  readonly namespace: string;
  /** Tells apart several stores in one namespace; default "meshfed". */
  readonly name?: string;
}

export class KubernetesStore implements StateStore {
  readonly kind = "kubernetes";
  readonly #api: CoreV1Api;
  readonly #namespace: string;
  readonly #name: string;
  /** key -> resourceVersion last seen by this store (read or written). */
  readonly #versions = new Map<string, string>();
  readonly #changes = new Listeners<StoreChange>();

  constructor(options: KubernetesStoreOptions) {
    this.#api = options.kubeConfig.makeApiClient(CoreV1Api);
    this.#namespace = options.namespace;
    this.#name = options.name ?? "meshfed";
  }

  /** The Secret holding `key`. */
  secretName(key: string): string {
    checkKey(key);
    return `${this.#name}-state-${createHash("sha256").update(key).digest("hex").slice(0, 32)}`;
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    const name = this.secretName(key);
    let secret: V1Secret;
    try {
      secret = await this.#api.readNamespacedSecret({ name, namespace: this.#namespace });
    } catch (err) {
      if (httpStatusOf(err) === 404) {
        this.#versions.delete(key);
        return undefined;
      }
      throw apiError(`get ${key}`, err);
    }
    return this.#remember(key, secret);
  }

  async put(key: string, value: Uint8Array | string, _options: PutOptions = {}): Promise<void> {
    // Every value is a Secret, so `secret` changes nothing here.
    await this.#write(key, value, this.#versions.get(key));
  }

  async create(key: string, value: Uint8Array | string, _options: PutOptions = {}): Promise<boolean> {
    return this.#writeUnlessConflict(key, value, undefined);
  }

  async compareAndPut(key: string, expected: Uint8Array, value: Uint8Array | string, _options: PutOptions = {}): Promise<boolean> {
    const current = await this.get(key);
    const version = this.#versions.get(key);
    if (current === undefined || version === undefined || !sameBytes(current, expected)) return false;
    return this.#writeUnlessConflict(key, value, version);
  }

  /** #write, answering false where another writer came first (the conditional calls' contract). */
  async #writeUnlessConflict(key: string, value: Uint8Array | string, known: string | undefined): Promise<boolean> {
    try {
      await this.#write(key, value, known);
      return true;
    } catch (err) {
      if (err instanceof MeshfedError && err.code === STORE_ERROR.conflict) return false;
      throw err;
    }
  }

  async watch(prefix: string, onChange: (change: StoreChange) => void, signal: AbortSignal): Promise<void> {
    checkKey(prefix);
    if (signal.aborted) return;
    const remove = this.#changes.add((change) => {
      const rest = change.key.startsWith(`${prefix}/`) ? change.key.slice(prefix.length + 1) : undefined;
      if (rest !== undefined && !rest.includes("/")) onChange(change);
    });
    signal.addEventListener("abort", remove, { once: true });
  }

  /** Creates the Secret (no version) or replaces it carrying `known`; 409 becomes MESHFED_STORE_CONFLICT. */
  async #write(key: string, value: Uint8Array | string, known: string | undefined): Promise<void> {
    const name = this.secretName(key);
    const bytes = typeof value === "string" ? Buffer.from(value, "utf8") : Buffer.from(value);
    const body: V1Secret = {
      apiVersion: "v1", kind: "Secret", type: "Opaque",
      metadata: {
        name, namespace: this.#namespace,
        labels: { [STATE_LABEL]: this.#name, "app.kubernetes.io/managed-by": "meshfed" },
        annotations: { [STATE_KEY_ANNOTATION]: key },
        ...(known === undefined ? {} : { resourceVersion: known }),
      },
      data: { value: bytes.toString("base64") },
    };
    try {
      const written = known === undefined
        ? await this.#api.createNamespacedSecret({ namespace: this.#namespace, body })
        : await this.#api.replaceNamespacedSecret({ name, namespace: this.#namespace, body });
      this.#versions.set(key, written.metadata?.resourceVersion ?? "");
      this.#changes.emit({ key, value: bytes });
    } catch (err) {
      const status = httpStatusOf(err);
      if (status === 409) {
        this.#versions.delete(key);
        throw new MeshfedError(STORE_ERROR.conflict, `state key ${key} was changed by another writer since this controller last read it; read it again`, { cause: err, details: { key, secret: name } });
      }
      // Deleted by someone else under us: our version is void; the caller reads again.
      if (status === 404) this.#versions.delete(key);
      throw apiError(`put ${key}`, err);
    }
  }

  async delete(key: string): Promise<void> {
    const name = this.secretName(key);
    try {
      await this.#api.deleteNamespacedSecret({ name, namespace: this.#namespace });
    } catch (err) {
      if (httpStatusOf(err) !== 404) throw apiError(`delete ${key}`, err);
    }
    this.#versions.delete(key);
    this.#changes.emit({ key, value: undefined });
  }

  async list(prefix: string): Promise<Array<{ key: string; value: Uint8Array }>> {
    checkKey(prefix);
    let items: V1Secret[];
    try {
      items = (await this.#api.listNamespacedSecret({ namespace: this.#namespace, labelSelector: `${STATE_LABEL}=${this.#name}` })).items;
    } catch (err) {
      throw apiError(`list ${prefix}/`, err);
    }
    const out: Array<{ key: string; value: Uint8Array }> = [];
    for (const secret of items) {
      const key = secret.metadata?.annotations?.[STATE_KEY_ANNOTATION];
      if (key === undefined || !key.startsWith(`${prefix}/`) || key.slice(prefix.length + 1).includes("/")) continue;
      // A Secret whose name does not match its key was not written by this store: skip it.
      if (secret.metadata?.name !== this.secretName(key)) continue;
      out.push({ key, value: this.#remember(key, secret) });
    }
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async close(): Promise<void> {
    // Stateless HTTP calls: nothing to release.
  }

  #remember(key: string, secret: V1Secret): Uint8Array {
    this.#versions.set(key, secret.metadata?.resourceVersion ?? "");
    return Buffer.from(secret.data?.value ?? "", "base64");
  }
}

function checkKey(key: string): void {
  if (!KEY.test(key) || key.split("/").some((s) => s === "." || s === "..")) {
    throw new MeshfedError(STORE_ERROR.badKey, `invalid store key "${key}"`);
  }
}

function apiError(what: string, err: unknown): MeshfedError {
  const status = httpStatusOf(err);
  return new MeshfedError(STORE_ERROR.api, `state store ${what}: ${status === undefined ? errorMessage(err) : `HTTP ${status}`}`, { cause: err, details: status === undefined ? {} : { status } });
}
