/**
 * An in-process fake Kubernetes API server, small but faithful to the parts of
 * the wire protocol informers use (client-node 1.4 drives it in the tests):
 *
 * - one generic store keyed by resource (group + plural) and namespace/name,
 *   with a global resourceVersion counter, as etcd gives the real server;
 *   every served version of a resource reads the same objects (CRD
 *   conversion strategy None: only apiVersion is rewritten);
 * - list: GET <collection> -> `{ kind: <Kind>List, metadata: { resourceVersion }, items }`
 *   (built-in items without apiVersion/kind, custom resources with them, as
 *   the real server answers);
 * - watch: `?watch=true&resourceVersion=N` streams JSON lines, replaying
 *   the event log after N, then live events; headers are flushed at once; no
 *   resourceVersion means "ADDED for every current object, then live";
 *   BOOKMARK events on request (allowWatchBookmarks); timeoutSeconds honoured;
 * - 410 Gone: after compact(), a watch from an older resourceVersion gets a
 *   `Status` with reason Expired, in-stream as an ERROR event (the watch
 *   cache's answer) or as HTTP 410, as chosen by `expiredAs`;
 * - fault injection: dropWatches() (connections die mid-stream),
 *   closeWatches() (normal server close), failNext() (e.g. a 500 on the next
 *   list), expireWatches() (ERROR 410 on open streams);
 * - single objects: GET (404 NotFound), POST create (409 AlreadyExists,
 *   generateName honoured), PUT replace (409 Conflict on a stale
 *   metadata.resourceVersion), PATCH with application/json-patch+json (a
 *   failed `test` op is a 422) or server-side apply,
 *   application/apply-patch+yaml with a fieldManager, creating or merging
 *   (server-side-apply.ts: ownership, conflicts, force, no-op applies, and
 *   where it differs from a real server); other patch types are a 415;
 *   DELETE (409 Conflict when DeleteOptions.preconditions name another uid
 *   or resourceVersion; a namespace takes its objects with it, at once rather
 *   than after a Terminating phase); every write bumps the resourceVersion
 *   and is seen by watches, except an apply that changes nothing;
 * - discovery: GET /api/v1 and /apis/<group>/<version> list the served
 *   resources (KubernetesObjectApi maps a kind to its path with it);
 * - Deployments get metadata.generation (bumped when the spec changes);
 *   `markDeploymentAvailable()` plays the Deployment controller;
 * - CRD schemas, when started with `crdSchemas` (crd-schemas.ts): a custom
 *   resource written over HTTP is validated against its CRD's openAPIV3Schema
 *   for the request's version (422 Invalid naming each field error) and
 *   stored pruned of undeclared fields, as the real server admits it;
 * - bearer-token check (401 without it); field selectors metadata.name and
 *   metadata.namespace only, equality label selectors on lists and watches
 *   (a watch sees an object whose labels stop matching as DELETED and one
 *   that starts matching as ADDED, as the real watch cache reports them);
 *   anything else is a 400, so a client relying on more fails loudly rather
 *   than passing silently.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { randomUUID } from "node:crypto";
import { applyJsonPatch, type JsonPatchOperation } from "./json-patch.js";
import type { CrdSchemas } from "./crd-schemas.js";
import { pruneCustomResource, validateCustomResource } from "./openapi-schema.js";
import { readBody } from "./read-body.js";
import { parse as parseYaml } from "yaml";
import { jsonEqual, recordUpdate, serverSideApply, type FieldManager } from "./server-side-apply.js";

export interface ResourceType {
  /** "" for the core group. */
  readonly group: string;
  readonly versions: readonly string[];
  readonly plural: string;
  readonly kind: string;
  readonly namespaced: boolean;
}

/** Resources this fake serves, keyed by kubectl-style name (`plural[.group]`). */
export const RESOURCES = {
  namespaces: { group: "", versions: ["v1"], plural: "namespaces", kind: "Namespace", namespaced: false },
  services: { group: "", versions: ["v1"], plural: "services", kind: "Service", namespaced: true },
  pods: { group: "", versions: ["v1"], plural: "pods", kind: "Pod", namespaced: true },
  configmaps: { group: "", versions: ["v1"], plural: "configmaps", kind: "ConfigMap", namespaced: true },
  secrets: { group: "", versions: ["v1"], plural: "secrets", kind: "Secret", namespaced: true },
  "leases.coordination.k8s.io": { group: "coordination.k8s.io", versions: ["v1"], plural: "leases", kind: "Lease", namespaced: true },
  "mutatingwebhookconfigurations.admissionregistration.k8s.io": { group: "admissionregistration.k8s.io", versions: ["v1"], plural: "mutatingwebhookconfigurations", kind: "MutatingWebhookConfiguration", namespaced: false },
  "endpointslices.discovery.k8s.io": { group: "discovery.k8s.io", versions: ["v1"], plural: "endpointslices", kind: "EndpointSlice", namespaced: true },
  "trafficsplits.split.smi-spec.io": { group: "split.smi-spec.io", versions: ["v1alpha2", "v1alpha3", "v1alpha4"], plural: "trafficsplits", kind: "TrafficSplit", namespaced: true },
  "traffictargets.access.smi-spec.io": { group: "access.smi-spec.io", versions: ["v1alpha3"], plural: "traffictargets", kind: "TrafficTarget", namespaced: true },
  "httproutegroups.specs.smi-spec.io": { group: "specs.smi-spec.io", versions: ["v1alpha3", "v1alpha4"], plural: "httproutegroups", kind: "HTTPRouteGroup", namespaced: true },
  "tcproutes.specs.smi-spec.io": { group: "specs.smi-spec.io", versions: ["v1alpha3", "v1alpha4"], plural: "tcproutes", kind: "TCPRoute", namespaced: true },
  "egresses.policy.openservicemesh.io": { group: "policy.openservicemesh.io", versions: ["v1alpha1"], plural: "egresses", kind: "Egress", namespaced: true },
  "ingressbackends.policy.openservicemesh.io": { group: "policy.openservicemesh.io", versions: ["v1alpha1"], plural: "ingressbackends", kind: "IngressBackend", namespaced: true },
  "upstreamtrafficsettings.policy.openservicemesh.io": { group: "policy.openservicemesh.io", versions: ["v1alpha1"], plural: "upstreamtrafficsettings", kind: "UpstreamTrafficSetting", namespaced: true },
  "retries.policy.openservicemesh.io": { group: "policy.openservicemesh.io", versions: ["v1alpha1"], plural: "retries", kind: "Retry", namespaced: true },
  "meshconfigs.config.openservicemesh.io": { group: "config.openservicemesh.io", versions: ["v1alpha1", "v1alpha2"], plural: "meshconfigs", kind: "MeshConfig", namespaced: true },
  // What `meshfed install` applies besides the above.
  serviceaccounts: { group: "", versions: ["v1"], plural: "serviceaccounts", kind: "ServiceAccount", namespaced: true },
  "deployments.apps": { group: "apps", versions: ["v1"], plural: "deployments", kind: "Deployment", namespaced: true },
  "poddisruptionbudgets.policy": { group: "policy", versions: ["v1"], plural: "poddisruptionbudgets", kind: "PodDisruptionBudget", namespaced: true },
  "clusterroles.rbac.authorization.k8s.io": { group: "rbac.authorization.k8s.io", versions: ["v1"], plural: "clusterroles", kind: "ClusterRole", namespaced: false },
  "clusterrolebindings.rbac.authorization.k8s.io": { group: "rbac.authorization.k8s.io", versions: ["v1"], plural: "clusterrolebindings", kind: "ClusterRoleBinding", namespaced: false },
  "roles.rbac.authorization.k8s.io": { group: "rbac.authorization.k8s.io", versions: ["v1"], plural: "roles", kind: "Role", namespaced: true },
  "rolebindings.rbac.authorization.k8s.io": { group: "rbac.authorization.k8s.io", versions: ["v1"], plural: "rolebindings", kind: "RoleBinding", namespaced: true },
  "customresourcedefinitions.apiextensions.k8s.io": { group: "apiextensions.k8s.io", versions: ["v1"], plural: "customresourcedefinitions", kind: "CustomResourceDefinition", namespaced: false },
} as const satisfies Readonly<Record<string, ResourceType>>;

export type ResourceName = keyof typeof RESOURCES;

const TYPES: Readonly<Record<string, ResourceType | undefined>> = RESOURCES;

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace?: string; resourceVersion?: string; labels?: Record<string, string>; [k: string]: unknown };
  [k: string]: unknown;
}

type EventType = "ADDED" | "MODIFIED" | "DELETED";

interface LogEntry {
  readonly resource: string;
  readonly type: EventType;
  readonly object: KubeObject;
  /** The state before a MODIFIED: a label-selected watch needs it to tell a label change apart. */
  readonly previous?: KubeObject;
  readonly rv: number;
}

interface Watcher {
  readonly resource: string;
  readonly version: string;
  readonly namespace: string | undefined;
  readonly fields: Readonly<Record<string, string>>;
  readonly labels: Readonly<Record<string, string>>;
  readonly bookmarks: boolean;
  readonly res: ServerResponse;
  timer?: NodeJS.Timeout;
}

export interface InjectedFailure {
  readonly verb: "list" | "watch";
  readonly resource: string;
  readonly status: number;
  /** How many matching requests fail. Default 1. */
  times?: number;
}

export interface RequestRecord {
  readonly verb: "list" | "watch" | "get" | "create" | "update" | "patch" | "delete" | "discovery" | "other";
  readonly resource: string | undefined;
  readonly path: string;
  readonly query: Readonly<Record<string, string>>;
}

export const FAKE_TOKEN = "fake-token";

export class FakeKubeApiServer {
  readonly #server: Server;
  #rv = 1;
  /** Watches from a resourceVersion below this get 410 Gone. */
  #compactedTo = 0;
  readonly #store = new Map<string, Map<string, KubeObject>>();
  #log: LogEntry[] = [];
  readonly #watchers = new Set<Watcher>();
  readonly #failures: InjectedFailure[] = [];
  /** How a too-old watch is refused. */
  expiredAs: "event" | "http" = "event";
  readonly requests: RequestRecord[] = [];

  /** CRD schemas enforced on writes over HTTP (`apply()` is the test's own back door and skips them). */
  readonly #schemas: CrdSchemas;
  /** Resources whose CRD is "not installed": every request for them is a 404, as the real server answers. */
  readonly #uninstalled = new Set<string>();
  /** Field owners per object (`resource|namespace/name`), written by HTTP writes and applies (server-side-apply.ts). */
  readonly #managers = new Map<string, FieldManager[]>();

  private constructor(server: Server, schemas: CrdSchemas) {
    this.#server = server;
    this.#schemas = schemas;
  }

  static async start(options: { crdSchemas?: CrdSchemas; uninstalled?: readonly ResourceName[] } = {}): Promise<FakeKubeApiServer> {
    const server = createServer();
    const fake = new FakeKubeApiServer(server, options.crdSchemas ?? new Map());
    for (const r of options.uninstalled ?? []) fake.#uninstalled.add(r);
    server.on("request", (req, res) => fake.#handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return fake;
  }

  get url(): string {
    const { port } = this.#server.address() as AddressInfo;
    return `http://127.0.0.1:${port}`;
  }

  get resourceVersion(): number {
    return this.#rv;
  }

  /** Installs the CRD of a resource started as `uninstalled`: from now on it is served. */
  install(resource: ResourceName): void {
    this.#uninstalled.delete(resource);
  }

  /** Writes a kubeconfig for this server (plain HTTP needs insecure-skip-tls-verify in client-node). */
  async writeKubeconfig(dir: string, options: { namespace?: string; context?: string; token?: string } = {}): Promise<string> {
    const ctx = options.context ?? "fake";
    const file = join(dir, "kubeconfig");
    await writeFile(file, [
      "apiVersion: v1",
      "kind: Config",
      "clusters:",
      `- name: fake-cluster`,
      `  cluster: { server: "${this.url}", insecure-skip-tls-verify: true }`,
      "users:",
      `- name: fake-user`,
      `  user: { token: "${options.token ?? FAKE_TOKEN}" }`,
      "contexts:",
      `- name: ${ctx}`,
      `  context: { cluster: fake-cluster, user: fake-user${options.namespace === undefined ? "" : `, namespace: ${options.namespace}`} }`,
      `current-context: ${ctx}`,
      "",
    ].join("\n"));
    return file;
  }

  /** Creates or replaces an object (ADDED or MODIFIED); returns the stored copy. */
  apply(resource: ResourceName, object: KubeObject): KubeObject {
    const type = this.#type(resource);
    const ns = type.namespaced ? (object.metadata.namespace ?? "default") : undefined;
    const key = `${ns ?? ""}/${object.metadata.name}`;
    const objects = this.#objects(resource);
    const old = objects.get(key);
    const rv = ++this.#rv;
    const stored: KubeObject = structuredClone({
      ...object,
      metadata: {
        ...object.metadata,
        ...(ns === undefined ? {} : { namespace: ns }),
        ...(GENERATIONS.has(resource) ? { generation: nextGeneration(old, object) } : {}),
        uid: old?.metadata.uid ?? randomUUID(),
        creationTimestamp: old?.metadata.creationTimestamp ?? new Date(Date.now() + rv).toISOString(),
        resourceVersion: String(rv),
      },
    });
    objects.set(key, stored);
    this.#record(resource, old === undefined ? "ADDED" : "MODIFIED", stored, rv, old);
    return stored;
  }

  /** Deletes an object (DELETED carries the final state with a new resourceVersion); false if absent. */
  remove(resource: ResourceName, namespace: string | undefined, name: string): boolean {
    const objects = this.#objects(resource);
    const key = `${namespace ?? ""}/${name}`;
    const old = objects.get(key);
    if (old === undefined) return false;
    objects.delete(key);
    this.#managers.delete(`${resource}|${key}`);
    const rv = ++this.#rv;
    this.#record(resource, "DELETED", { ...structuredClone(old), metadata: { ...old.metadata, resourceVersion: String(rv) } }, rv);
    return true;
  }

  get(resource: ResourceName, namespace: string | undefined, name: string): KubeObject | undefined {
    return this.#objects(resource).get(`${namespace ?? ""}/${name}`);
  }

  /** Every stored object of `resource`, sorted by namespace/name. */
  list(resource: ResourceName): KubeObject[] {
    return [...this.#objects(resource).entries()].sort(([a], [b]) => cmp(a, b)).map(([, o]) => o);
  }

  /** Who owns which fields of an object (dotted paths per manager), as managedFields would show. */
  managers(resource: ResourceName, namespace: string | undefined, name: string): Record<string, { operation: string; fields: string[] }> {
    const out: Record<string, { operation: string; fields: string[] }> = {};
    for (const m of this.#managers.get(`${resource}|${namespace ?? ""}/${name}`) ?? []) {
      out[m.name] = { operation: m.operation, fields: [...m.fields].map((f) => `.${(JSON.parse(f) as string[]).join(".")}`).sort() };
    }
    return out;
  }

  /**
   * Plays the Deployment controller: every replica of the current generation
   * is updated, ready and available (a status write, as the controller's).
   */
  markDeploymentAvailable(namespace: string, name: string): KubeObject {
    const d = this.get("deployments.apps", namespace, name);
    if (d === undefined) throw new Error(`no deployment ${namespace}/${name}`);
    const replicas = (d.spec as { replicas?: number } | undefined)?.replicas ?? 1;
    return this.apply("deployments.apps", {
      ...d,
      status: {
        observedGeneration: d.metadata.generation,
        replicas, updatedReplicas: replicas, readyReplicas: replicas, availableReplicas: replicas,
        conditions: [{ type: "Available", status: "True", reason: "MinimumReplicasAvailable" }],
      },
    });
  }

  /** Forgets the event log: any watch from a resourceVersion before now gets 410 Gone. */
  compact(): void {
    this.#compactedTo = this.#rv;
    this.#log = [];
  }

  /** Sends an in-stream ERROR 410 (Expired) on every open watch of `resource` (all if undefined) and ends them. */
  expireWatches(resource?: ResourceName): number {
    let n = 0;
    for (const w of this.#matching(resource)) {
      this.#send(w, { type: "ERROR", object: expiredStatus(`too old resource version (compacted to ${this.#compactedTo})`) });
      this.#endWatch(w, false);
      n++;
    }
    return n;
  }

  /** Destroys the connections of open watches mid-stream (no clean end). */
  dropWatches(resource?: ResourceName): number {
    let n = 0;
    for (const w of this.#matching(resource)) {
      this.#endWatch(w, true);
      n++;
    }
    return n;
  }

  /** Ends open watches cleanly, as the server does at timeoutSeconds. */
  closeWatches(resource?: ResourceName): number {
    let n = 0;
    for (const w of this.#matching(resource)) {
      this.#endWatch(w, false);
      n++;
    }
    return n;
  }

  /** Sends a BOOKMARK with the current resourceVersion to watches that asked for them. */
  bookmark(resource?: ResourceName): number {
    let n = 0;
    for (const w of this.#matching(resource)) {
      if (!w.bookmarks) continue;
      const type = this.#type(w.resource);
      this.#send(w, { type: "BOOKMARK", object: { kind: type.kind, apiVersion: apiVersion(type, w.version), metadata: { resourceVersion: String(this.#rv) } } });
      n++;
    }
    return n;
  }

  /** The next matching request(s) fail with `status` (a Status body, reason InternalError etc.). */
  failNext(failure: InjectedFailure): void {
    this.#failures.push({ ...failure, times: failure.times ?? 1 });
  }

  openWatches(resource?: ResourceName): number {
    return [...this.#matching(resource)].length;
  }

  count(verb: RequestRecord["verb"], resource: ResourceName): number {
    return this.requests.filter((r) => r.verb === verb && r.resource === resource).length;
  }

  async close(): Promise<void> {
    for (const w of this.#watchers) this.#endWatch(w, true);
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#server.closeAllConnections();
    await closed;
  }

  // ---- request handling ----

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? "/", "http://fake");
    const query = Object.fromEntries(url.searchParams);
    const route = parsePath(url.pathname);
    const watch = query.watch === "true" || query.watch === "1";
    const discovery = req.method === "GET" ? this.#discovery(url.pathname) : undefined;
    this.requests.push({ verb: discovery !== undefined ? "discovery" : verbOf(req.method, route, watch), resource: route?.resource, path: url.pathname, query });
    if (req.headers.authorization !== `Bearer ${FAKE_TOKEN}`) return status(res, 401, "Unauthorized", "Unauthorized");
    if (discovery !== undefined) {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify(discovery));
      return;
    }
    if (route === undefined) return status(res, 404, "NotFound", `the server could not find the requested resource (${url.pathname})`);
    const type = this.#uninstalled.has(route.resource) ? undefined : TYPES[route.resource];
    if (type === undefined || !type.versions.includes(route.version) || type.group !== route.group || (route.namespace !== undefined && !type.namespaced)) {
      return status(res, 404, "NotFound", `the server could not find the requested resource (${url.pathname})`);
    }
    if (route.name !== undefined || req.method !== "GET") {
      void this.#object(req, res, route.resource, route.version, route.namespace, route.name);
      return;
    }
    const failure = this.#failures.find((f) => f.resource === route.resource && f.verb === (watch ? "watch" : "list"));
    if (failure !== undefined) {
      failure.times = (failure.times ?? 1) - 1;
      if (failure.times <= 0) this.#failures.splice(this.#failures.indexOf(failure), 1);
      return status(res, failure.status, failure.status === 410 ? "Expired" : "InternalError", `injected failure (${failure.status})`);
    }
    const fields = parseFieldSelector(query.fieldSelector);
    if (fields === undefined) return status(res, 400, "BadRequest", `unsupported field selector "${query.fieldSelector}"`);
    const labels = parseLabelSelector(query.labelSelector);
    if (labels === undefined) return status(res, 400, "BadRequest", `this fake implements only k=v label selectors, not "${query.labelSelector}"`);
    if (watch) this.#watch(route.resource, route.version, route.namespace, fields, labels, query, res);
    else this.#list(route.resource, route.version, route.namespace, fields, res, labels);
  }

  /** Single-object verbs: GET/PUT/PATCH/DELETE on `.../<name>`, POST on the collection. */
  async #object(req: IncomingMessage, res: ServerResponse, resource: string, version: string, namespace: string | undefined, name: string | undefined): Promise<void> {
    const type = this.#type(resource);
    const method = req.method ?? "GET";
    const objects = this.#objects(resource);
    const nsKey = type.namespaced ? namespace : undefined;
    if (type.namespaced && nsKey === undefined && method !== "GET") return status(res, 404, "NotFound", `${type.plural} are namespaced`);
    const existing = name === undefined ? undefined : objects.get(`${nsKey ?? ""}/${name}`);
    const notFound = (): void => status(res, 404, "NotFound", `${type.plural} "${name ?? ""}" not found`);
    const send = (code: number, object: KubeObject): void => {
      res.writeHead(code, { "content-type": "application/json" });
      res.end(JSON.stringify({ ...structuredClone(object), apiVersion: apiVersion(type, version), kind: type.kind }));
    };
    if (method === "GET") return existing === undefined ? notFound() : send(200, existing);
    if (method === "DELETE") {
      if (existing === undefined) return notFound();
      const text = await readBody(req);
      let options: { preconditions?: { uid?: string; resourceVersion?: string } } = {};
      try {
        if (text.trim() !== "") options = JSON.parse(text) as typeof options;
      } catch {
        return status(res, 400, "BadRequest", "the DeleteOptions body is not JSON");
      }
      const pre = options.preconditions ?? {};
      if ((pre.uid !== undefined && pre.uid !== existing.metadata.uid) || (pre.resourceVersion !== undefined && pre.resourceVersion !== existing.metadata.resourceVersion)) {
        return status(res, 409, "Conflict", `Operation cannot be fulfilled on ${type.plural} "${existing.metadata.name}": the precondition does not hold (uid ${String(pre.uid)}, resourceVersion ${String(pre.resourceVersion)})`);
      }
      this.remove(resource as ResourceName, nsKey, existing.metadata.name);
      if (resource === "namespaces") this.#removeNamespaced(existing.metadata.name);
      return send(200, existing);
    }
    const contentType = req.headers["content-type"];
    const applying = method === "PATCH" && contentType === "application/apply-patch+yaml";
    let body: unknown;
    try {
      const text = await readBody(req);
      // An apply body is YAML; clients send JSON (a subset), which JSON.parse reads much faster.
      body = applying && !/^\s*[{[]/.test(text) ? parseYaml(text) : JSON.parse(text);
    } catch {
      return status(res, 400, "BadRequest", `the request body is not ${applying ? "YAML" : "JSON"}`);
    }
    const params = new URL(req.url ?? "/", "http://fake").searchParams;
    const manager = params.get("fieldManager") ?? "unknown";
    const ownerKey = (n: string): string => `${resource}|${nsKey ?? ""}/${n}`;
    /** A non-apply write: its manager now owns what it changed. */
    const updated = (before: KubeObject | undefined, stored: KubeObject): KubeObject => {
      const key = ownerKey(stored.metadata.name);
      this.#managers.set(key, recordUpdate(before, stored, this.#managers.get(key) ?? [], manager));
      return stored;
    };
    if (applying) {
      if (name === undefined) return status(res, 405, "MethodNotAllowed", "apply needs an object name in the path");
      return this.#serverSideApply(res, resource, version, nsKey, name, body, params, send);
    }
    if (method === "POST" && name === undefined) {
      const object = body as KubeObject;
      if (object?.metadata === undefined || typeof object.metadata !== "object") return status(res, 400, "BadRequest", "metadata is required");
      const generate = object.metadata.generateName;
      const objectName = object.metadata.name ?? (typeof generate === "string" ? `${generate}${randomUUID().slice(0, 5)}` : undefined);
      if (typeof objectName !== "string" || objectName === "") return status(res, 422, "Invalid", "metadata.name: Required value");
      if (object.metadata.namespace !== undefined && object.metadata.namespace !== nsKey) {
        return status(res, 400, "BadRequest", `the namespace of the object (${object.metadata.namespace}) does not match the namespace on the request (${nsKey ?? ""})`);
      }
      if (objects.has(`${nsKey ?? ""}/${objectName}`)) return status(res, 409, "AlreadyExists", `${type.plural} "${objectName}" already exists`);
      const { resourceVersion: _ignored, ...metadata } = object.metadata;
      const admitted = this.#admit(resource, version, objectName, object);
      if (typeof admitted === "string") return status(res, 422, "Invalid", admitted);
      return send(201, updated(undefined, this.apply(resource as ResourceName, { ...stringDataToData(resource, admitted), metadata: { ...metadata, name: objectName, ...(nsKey === undefined ? {} : { namespace: nsKey }) } })));
    }
    if (existing === undefined || name === undefined) return notFound();
    if (method === "PUT") {
      const object = body as KubeObject;
      const rv = object?.metadata?.resourceVersion;
      if (rv !== undefined && rv !== existing.metadata.resourceVersion) {
        return status(res, 409, "Conflict", `Operation cannot be fulfilled on ${type.plural} "${name}": the object has been modified; please apply your changes to the latest version and try again`);
      }
      const admitted = this.#admit(resource, version, name, object);
      if (typeof admitted === "string") return status(res, 422, "Invalid", admitted);
      return send(200, updated(existing, this.apply(resource as ResourceName, { ...stringDataToData(resource, admitted), metadata: { ...object.metadata, name, ...(nsKey === undefined ? {} : { namespace: nsKey }) } })));
    }
    if (method === "PATCH") {
      if (contentType !== "application/json-patch+json") {
        return status(res, 415, "UnsupportedMediaType", `this fake supports only application/json-patch+json and application/apply-patch+yaml patches, not ${String(contentType)}`);
      }
      if (!Array.isArray(body)) return status(res, 400, "BadRequest", "a JSON patch is an array of operations");
      let patched: KubeObject;
      try {
        patched = applyJsonPatch(existing, body as JsonPatchOperation[]);
      } catch (err) {
        return status(res, 422, "Invalid", `the patch does not apply: ${(err as Error).message}`);
      }
      const admitted = this.#admit(resource, version, name, patched);
      if (typeof admitted === "string") return status(res, 422, "Invalid", admitted);
      return send(200, updated(existing, this.apply(resource as ResourceName, { ...admitted, metadata: { ...patched.metadata, name, ...(nsKey === undefined ? {} : { namespace: nsKey }) } })));
    }
    return status(res, 405, "MethodNotAllowed", `${method} is not supported by this fake`);
  }

  /** PATCH application/apply-patch+yaml: creates or merges (server-side-apply.ts). */
  #serverSideApply(res: ServerResponse, resource: string, version: string, nsKey: string | undefined, name: string, body: unknown, params: URLSearchParams, send: (code: number, o: KubeObject) => void): void {
    const type = this.#type(resource);
    const manager = params.get("fieldManager");
    // As the real server: apply requires a manager, and force is only "true" or "false".
    if (manager === null || manager === "") return status(res, 422, "Invalid", "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch");
    const object = body as KubeObject | null;
    if (object === null || typeof object !== "object" || typeof object.metadata !== "object" || object.metadata === null) return status(res, 400, "BadRequest", "an apply body is an object with metadata");
    if (object.apiVersion !== apiVersion(type, version) || object.kind !== type.kind) {
      return status(res, 400, "BadRequest", `apply: apiVersion/kind ${String(object.apiVersion)}/${String(object.kind)} do not match the path (${apiVersion(type, version)}, ${type.kind})`);
    }
    if (object.metadata.name !== name) return status(res, 400, "BadRequest", `the name of the object (${String(object.metadata.name)}) does not match the name on the URL (${name})`);
    if (object.metadata.namespace !== undefined && object.metadata.namespace !== nsKey) {
      return status(res, 400, "BadRequest", `the namespace of the object (${object.metadata.namespace}) does not match the namespace on the request (${nsKey ?? ""})`);
    }
    const key = `${resource}|${nsKey ?? ""}/${name}`;
    const existing = this.#objects(resource).get(`${nsKey ?? ""}/${name}`);
    const result = serverSideApply(existing, object, this.#managers.get(key) ?? [], manager, params.get("force") === "true");
    if (!result.ok) {
      const fields = result.conflicts.map((c) => `conflict with "${c.manager}": ${c.field}`);
      res.writeHead(409, { "content-type": "application/json" });
      res.end(JSON.stringify({
        kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", reason: "Conflict", code: 409,
        message: `Apply failed with ${result.conflicts.length} conflict${result.conflicts.length === 1 ? "" : "s"}: ${fields.join("; ")}`,
        details: { name, kind: type.plural, causes: result.conflicts.map((c) => ({ reason: "FieldManagerConflict", message: `conflict with "${c.manager}"`, field: c.field })) },
      }));
      return;
    }
    if (!result.changed && existing !== undefined) return send(200, existing);
    const admitted = this.#admit(resource, version, name, result.object as KubeObject);
    if (typeof admitted === "string") return status(res, 422, "Invalid", admitted);
    const stored = this.apply(resource as ResourceName, { ...stringDataToData(resource, admitted), metadata: { ...(result.object as KubeObject).metadata, name, ...(nsKey === undefined ? {} : { namespace: nsKey }) } });
    this.#managers.set(key, result.managers);
    return send(existing === undefined ? 201 : 200, stored);
  }

  /** What the namespace controller does after a namespace is deleted (here at once). */
  #removeNamespaced(namespace: string): void {
    for (const [name, type] of Object.entries(TYPES)) {
      if (type?.namespaced !== true) continue;
      for (const o of [...this.#objects(name).values()]) if (o.metadata.namespace === namespace) this.remove(name as ResourceName, namespace, o.metadata.name);
    }
  }

  /** The APIResourceList of a group version (`/api/v1`, `/apis/<group>/<version>`), if the path is one. */
  #discovery(path: string): Record<string, unknown> | undefined {
    const m = /^\/(?:api\/(v1)|apis\/([^/]+)\/([^/]+))\/?$/.exec(path);
    if (m === null) return undefined;
    const group = m[2] ?? "";
    const version = m[1] ?? m[3]!;
    const resources = Object.entries(TYPES)
      .filter(([name, t]) => t !== undefined && t.group === group && t.versions.includes(version) && !this.#uninstalled.has(name))
      .map(([, t]) => ({ name: t!.plural, singularName: t!.kind.toLowerCase(), namespaced: t!.namespaced, kind: t!.kind, verbs: ["create", "delete", "get", "list", "patch", "update", "watch"] }));
    if (resources.length === 0) return undefined;
    return { kind: "APIResourceList", apiVersion: "v1", groupVersion: group === "" ? version : `${group}/${version}`, resources };
  }

  /**
   * A custom resource against its CRD's schema for the request's version, as
   * the API server admits it: the pruned object, or the 422 message naming
   * every field error.
   */
  #admit(resource: string, version: string, name: string, object: KubeObject): KubeObject | string {
    const schema = this.#schemas.get(resource)?.get(version);
    if (schema === undefined) return object;
    const errors = validateCustomResource(object, schema);
    const type = this.#type(resource);
    if (errors.length > 0) return `${type.kind}.${type.group} "${name}" is invalid: ${errors.join(", ")}`;
    return pruneCustomResource(object, schema);
  }

  #list(resource: string, version: string, namespace: string | undefined, fields: Record<string, string>, res: ServerResponse, labels: Record<string, string> = {}): void {
    const type = this.#type(resource);
    const custom = isCustom(type);
    const items = [...this.#objects(resource).values()]
      .filter((o) => matches(o, namespace, fields) && labelled(o, labels))
      .sort((a, b) => cmp(`${a.metadata.namespace ?? ""}/${a.metadata.name}`, `${b.metadata.namespace ?? ""}/${b.metadata.name}`))
      .map((o) => {
        const copy = structuredClone(o);
        if (custom) return { ...copy, apiVersion: apiVersion(type, version), kind: type.kind };
        delete copy.apiVersion;
        delete copy.kind;
        return copy;
      });
    const body = { kind: `${type.kind}List`, apiVersion: apiVersion(type, version), metadata: { resourceVersion: String(this.#rv) }, items };
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify(body));
  }

  #watch(resource: string, version: string, namespace: string | undefined, fields: Record<string, string>, labels: Record<string, string>, query: Record<string, string>, res: ServerResponse): void {
    const rvParam = query.resourceVersion ?? "";
    const from = rvParam === "" || rvParam === "0" ? undefined : Number(rvParam);
    if (from !== undefined && !Number.isInteger(from)) return status(res, 400, "BadRequest", `invalid resourceVersion "${rvParam}"`);
    const expired = from !== undefined && from < this.#compactedTo;
    if (expired && this.expiredAs === "http") return status(res, 410, "Expired", `too old resource version: ${from} (${this.#compactedTo})`);
    res.writeHead(200, { "content-type": "application/json", "transfer-encoding": "chunked" });
    // client-node's informer awaits the response headers before start() resolves.
    res.flushHeaders();
    const w: Watcher = { resource, version, namespace, fields, labels, bookmarks: query.allowWatchBookmarks === "true", res };
    if (expired) {
      this.#send(w, { type: "ERROR", object: expiredStatus(`too old resource version: ${from} (${this.#compactedTo})`) });
      res.end();
      return;
    }
    this.#watchers.add(w);
    res.on("close", () => {
      if (w.timer !== undefined) clearTimeout(w.timer);
      this.#watchers.delete(w);
    });
    const timeout = Number(query.timeoutSeconds);
    if (Number.isFinite(timeout) && timeout > 0) {
      w.timer = setTimeout(() => this.#endWatch(w, false), timeout * 1000);
      w.timer.unref();
    }
    if (from === undefined) {
      for (const o of this.#objects(resource).values()) if (matches(o, namespace, fields) && labelled(o, labels)) this.#send(w, { type: "ADDED", object: o });
    } else {
      for (const e of this.#log) if (e.resource === resource && e.rv > from) this.#deliver(w, e);
    }
  }

  #record(resource: string, type: EventType, object: KubeObject, rv: number, previous?: KubeObject): void {
    const entry: LogEntry = { resource, type, object, rv, ...(type === "MODIFIED" && previous !== undefined ? { previous } : {}) };
    this.#log.push(entry);
    for (const w of this.#watchers) if (w.resource === resource) this.#deliver(w, entry);
  }

  /** Sends `e` as `w` sees it through its selectors: a label change in or out of the selection is an ADDED or a DELETED. */
  #deliver(w: Watcher, e: LogEntry): void {
    if (!matches(e.object, w.namespace, w.fields)) return;
    const now = labelled(e.object, w.labels);
    const before = e.previous === undefined ? now : labelled(e.previous, w.labels);
    if (now && before) this.#send(w, { type: e.type, object: e.object });
    else if (now) this.#send(w, { type: "ADDED", object: e.object });
    else if (before) this.#send(w, { type: "DELETED", object: e.object });
  }

  #send(w: Watcher, event: { type: string; object: Record<string, unknown> }): void {
    const type = this.#type(w.resource);
    const object = event.type === "ERROR" ? event.object : { ...event.object, apiVersion: apiVersion(type, w.version), kind: type.kind };
    w.res.write(`${JSON.stringify({ type: event.type, object })}\n`);
  }

  #endWatch(w: Watcher, abrupt: boolean): void {
    this.#watchers.delete(w);
    if (w.timer !== undefined) clearTimeout(w.timer);
    if (abrupt) w.res.socket?.destroy();
    else w.res.end();
  }

  *#matching(resource?: string): Iterable<Watcher> {
    for (const w of [...this.#watchers]) if (resource === undefined || w.resource === resource) yield w;
  }

  #objects(resource: string): Map<string, KubeObject> {
    let m = this.#store.get(resource);
    if (m === undefined) this.#store.set(resource, (m = new Map<string, KubeObject>()));
    return m;
  }

  #type(resource: string): ResourceType {
    const t = TYPES[resource];
    if (t === undefined) throw new Error(`the fake does not serve ${resource}`);
    return t;
  }
}

interface Route {
  readonly group: string;
  readonly version: string;
  readonly namespace: string | undefined;
  readonly resource: string;
  readonly name: string | undefined;
}

function verbOf(method: string | undefined, route: Route | undefined, watch: boolean): RequestRecord["verb"] {
  if (route === undefined) return "other";
  switch (method) {
    case "GET":
      return route.name !== undefined ? "get" : watch ? "watch" : "list";
    case "POST":
      return "create";
    case "PUT":
      return "update";
    case "PATCH":
      return "patch";
    case "DELETE":
      return "delete";
    default:
      return "other";
  }
}

/** Resources whose metadata.generation the fake keeps (what `meshfed install --wait` reads). */
const GENERATIONS: ReadonlySet<string> = new Set(["deployments.apps"]);

/** 1 on create; +1 when the spec changed, as the API server does for Deployments. */
function nextGeneration(old: KubeObject | undefined, object: KubeObject): number {
  const before = typeof old?.metadata.generation === "number" ? old.metadata.generation : 0;
  if (old === undefined) return 1;
  return jsonEqual(old.spec, object.spec) ? before : before + 1;
}

/** As the API server does: a Secret's write-only stringData is merged into data (base64) and never stored. */
function stringDataToData(resource: string, object: KubeObject): KubeObject {
  if (resource !== "secrets" || object.stringData === undefined) return object;
  const { stringData, ...rest } = object;
  const data: Record<string, string> = { ...((object.data as Record<string, string> | undefined) ?? {}) };
  for (const [k, v] of Object.entries(stringData as Record<string, string>)) data[k] = Buffer.from(v, "utf8").toString("base64");
  return { ...rest, data };
}


function parsePath(path: string): Route | undefined {
  const parts = path.split("/").filter((p) => p !== "");
  let group: string;
  let version: string;
  let rest: string[];
  if (parts[0] === "api" && parts.length >= 3) {
    group = "";
    version = parts[1]!;
    rest = parts.slice(2);
  } else if (parts[0] === "apis" && parts.length >= 4) {
    group = parts[1]!;
    version = parts[2]!;
    rest = parts.slice(3);
  } else {
    return undefined;
  }
  let namespace: string | undefined;
  let plural: string;
  let name: string | undefined;
  // A namespace object itself (/api/v1/namespaces/<name>) reads as a cluster-scoped get.
  if (rest.length === 1 || rest.length === 2) {
    plural = rest[0]!;
    name = rest[1];
  } else if ((rest.length === 3 || rest.length === 4) && rest[0] === "namespaces") {
    namespace = rest[1]!;
    plural = rest[2]!;
    name = rest[3];
  } else return undefined;
  return { group, version, namespace, resource: group === "" ? plural : `${plural}.${group}`, name };
}

function parseFieldSelector(text: string | undefined): Record<string, string> | undefined {
  if (text === undefined || text === "") return {};
  const out: Record<string, string> = {};
  for (const part of text.split(",")) {
    const m = /^(metadata\.name|metadata\.namespace)(==?)(.*)$/.exec(part);
    if (m === null) return undefined;
    out[m[1]!] = m[3]!;
  }
  return out;
}

/** Equality-based label selectors only (`a=b,c==d`); anything else is refused so a client relying on more fails loudly. */
function parseLabelSelector(text: string | undefined): Record<string, string> | undefined {
  if (text === undefined || text === "") return {};
  const out: Record<string, string> = {};
  for (const part of text.split(",")) {
    const m = /^([A-Za-z0-9./_-]+)==?([A-Za-z0-9._-]*)$/.exec(part);
    if (m === null) return undefined;
    out[m[1]!] = m[2]!;
  }
  return out;
}

function matches(o: KubeObject, namespace: string | undefined, fields: Readonly<Record<string, string>>): boolean {
  if (namespace !== undefined && o.metadata.namespace !== namespace) return false;
  if (fields["metadata.name"] !== undefined && o.metadata.name !== fields["metadata.name"]) return false;
  if (fields["metadata.namespace"] !== undefined && o.metadata.namespace !== fields["metadata.namespace"]) return false;
  return true;
}

function labelled(o: KubeObject, labels: Readonly<Record<string, string>>): boolean {
  return Object.entries(labels).every(([k, v]) => o.metadata.labels?.[k] === v);
}

function isCustom(type: ResourceType): boolean {
  return type.group.endsWith("smi-spec.io") || type.group === "policy.openservicemesh.io";
}

function apiVersion(type: ResourceType, version: string): string {
  return type.group === "" ? version : `${type.group}/${version}`;
}

function expiredStatus(message: string): Record<string, unknown> {
  return { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message, reason: "Expired", code: 410 };
}

function status(res: ServerResponse, code: number, reason: string, message: string): void {
  res.writeHead(code, { "content-type": "application/json" });
  res.end(JSON.stringify({ kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message, reason, code }));
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
