/**
 * The mesh spec read from a directory of SMI manifests and osm-edge policy
 * objects (Egress, IngressBackend, UpstreamTrafficSetting, Retry; `*.yaml`,
 * `*.yml`, multi-document, not recursive), reloaded when the directory changes.
 * DESIGN.md §2 (spec/files).
 *
 * Bad input policy, chosen so that one mistake never widens or wipes policy:
 * - A YAML syntax error (or an unreadable file) anywhere keeps the last good
 *   spec for the whole directory. A half-saved file cannot be told apart from
 *   a deliberate deletion of its objects, and dropping a TrafficTarget would
 *   cut traffic, so nothing from this read is applied. State "degraded".
 * - An individual invalid object (schema, weights, regex, dangling reference,
 *   duplicate) is skipped and reported, the valid ones apply, as the API
 *   server would do with admission errors. State "degraded" until a reload
 *   without errors; `errors()` lists them all, `status().lastError` the first.
 * - A document of another Kubernetes kind (Service, Deployment, osm-edge's
 *   MeshConfig...) is passed over with an info-level note: users keep those
 *   next to their policies. Only malformed mesh objects are errors.
 * - The directory missing at start makes start() reject (the operator named
 *   it); missing later keeps the last good spec, degraded.
 * The watch → debounce → reload → keep-last-good lifecycle and its states are
 * controller/watched-source.ts's (shared with the hosts file).
 */
import { SnapshotMeshSpec } from "../snapshot-spec.js";
import { readFile, readdir } from "node:fs/promises";
import { join } from "node:path";
import { MeshfedError, errorMessage } from "../../../common/errors.js";
import type { Logger } from "../../../common/logger.js";
import type { ControllerMetrics } from "../../../common/metrics.js";
import { WatchedSource, type WatchedRead } from "../../watched-source.js";
import type { ProviderError, ProviderStatus } from "../../source-status.js";
import { SMI_ERROR_CODES, parseSmiManifests, type SkippedObject, type SmiObject } from "../smi-parse.js";
import { resolveMeshSpec } from "../smi-validate.js";

export interface FileMeshSpecOptions {
  /** Directory holding the SMI manifests. */
  readonly dir: string;
  readonly logger: Logger;
  readonly metrics?: ControllerMetrics;
  /** Quiet time after a change before reloading. Default 100 ms. */
  readonly debounceMs?: number;
  /** Safety-net stat poll interval (see common/watch-file.ts). Default 2000 ms. */
  readonly pollMs?: number;
  /** The mesh's trust domain: an UpstreamTrafficSetting host `<svc>.<ns>.svc.<trustDomain>` names a service. Default cluster.local. */
  readonly trustDomain?: string;
}

const SPEC_ID = "smi-files";
const MANIFEST = /\.ya?ml$/i;

/** A directory read that can apply: the objects, and the per-object errors that do not stop the rest. */
interface ManifestRead {
  readonly objects: SmiObject[];
  readonly errors: MeshfedError[];
  readonly skipped: SkippedObject[];
  readonly notes: MeshfedError[];
}

export class FileMeshSpec extends SnapshotMeshSpec {
  readonly id = SPEC_ID;
  readonly #options: FileMeshSpecOptions;
  readonly #log: Logger;
  readonly #source: WatchedSource<ManifestRead>;

  constructor(options: FileMeshSpecOptions) {
    super();
    this.#options = options;
    this.#log = options.logger.child({ component: "spec/files", dir: options.dir });
    this.#source = new WatchedSource<ManifestRead>({
      path: options.dir,
      kind: "directory",
      filter: (name) => MANIFEST.test(name),
      what: "the smi-files spec",
      logger: this.#log,
      timing: options,
      read: () => this.#read(),
      apply: (read) => {
        const { changed, errors } = this.#apply(read);
        return { state: errors > 0 ? "degraded" : "synced", ...(changed ? { announce: () => this.emitChange() } : {}) };
      },
      reject: (errors, phase) => {
        this.#recordErrors(errors);
        if (phase === "reload") this.#log.error({ errors: errors.length }, "SMI manifests rejected, keeping the last good spec");
      },
    });
  }

  start(signal: AbortSignal): Promise<void> {
    return this.#source.start(signal);
  }

  /** Re-reads the directory now (the watcher calls this; tests and a SIGHUP handler may too). */
  reload(): Promise<void> {
    return this.#source.reload();
  }

  status(): ProviderStatus {
    return {
      id: this.id,
      kind: "spec",
      state: this.#source.state,
      lastSync: this.#source.lastSync,
      lastError: this.skipped[0] ?? null,
      counts: {
        ...this.specCounts(),
      },
    };
  }

  async #read(): Promise<WatchedRead<ManifestRead>> {
    const dir = this.#options.dir;
    let names: string[];
    try {
      names = (await readdir(dir)).filter((n) => MANIFEST.test(n) && !n.startsWith(".")).sort();
    } catch (err) {
      const missing = (err as NodeJS.ErrnoException).code === "ENOENT";
      return {
        ok: false,
        errors: [new MeshfedError(missing ? SMI_ERROR_CODES.dirNotFound : SMI_ERROR_CODES.read, `${dir}: ${missing ? "SMI directory not found" : `cannot read SMI directory: ${errorMessage(err)}`}`, { cause: err, details: { file: dir } })],
      };
    }
    const objects: SmiObject[] = [];
    const objectErrors: MeshfedError[] = [];
    const skipped: SkippedObject[] = [];
    const notes: MeshfedError[] = [];
    const fatal: MeshfedError[] = [];
    for (const name of names) {
      const file = join(dir, name);
      let text: string;
      try {
        text = await readFile(file, "utf8");
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === "ENOENT") continue; // removed between readdir and read: a later event covers it
        if (code === "EISDIR") continue; // a directory named *.yaml: not a manifest
        fatal.push(new MeshfedError(SMI_ERROR_CODES.read, `${file}: cannot read: ${errorMessage(err)}`, { cause: err, details: { file } }));
        continue;
      }
      const parsed = parseSmiManifests(text, file, this.#options.trustDomain === undefined ? {} : { trustDomain: this.#options.trustDomain });
      objects.push(...parsed.objects);
      skipped.push(...parsed.skipped);
      notes.push(...parsed.notes);
      for (const e of parsed.errors) (e.code === SMI_ERROR_CODES.yaml ? fatal : objectErrors).push(e);
    }
    const [first, ...rest] = fatal;
    return first !== undefined ? { ok: false, errors: [first, ...rest] } : { ok: true, value: { objects, errors: objectErrors, skipped, notes } };
  }

  /** Applies a read; returns whether the spec's content changed and how many objects were skipped as errors. */
  #apply({ objects, errors: parseErrors, skipped, notes }: ManifestRead): { changed: boolean; errors: number } {
    const { snapshot, errors: crossErrors } = resolveMeshSpec(objects);
    if (skipped.length > 0) {
      // Info, not a warning: Services and Deployments next to the policies
      // are the normal way to keep manifests, not a mistake.
      this.#log.info({ nonMesh: skipped.length, objects: skipped.map(describeSkipped) }, "non-mesh objects skipped");
    }
    // Info, like the non-mesh objects: osm-edge's own objects carry these
    // fields, so they are worth knowing about but are no mistake.
    for (const n of notes) this.#log.info({ code: n.code, file: n.details.file, line: n.details.line }, n.message);
    const errors = [...parseErrors, ...crossErrors];
    this.#recordErrors(errors);
    this.#options.metrics?.providerSyncs.inc({ provider: SPEC_ID });
    const changed = this.replaceSpec(snapshot);
    this.#log.info(
      // The same per-kind counts as status(); `errors` is what was skipped as invalid.
      { ...this.specCounts(), nonMesh: skipped.length, changed },
      "SMI manifests loaded",
    );
    return { changed, errors: errors.length };
  }

  #recordErrors(errors: readonly MeshfedError[]): void {
    const at = new Date().toISOString();
    this.skipped = errors.map((e) => toProviderError(e, at));
    for (const e of errors) {
      this.#options.metrics?.providerErrors.inc({ provider: SPEC_ID, code: e.code });
      this.#log.warn({ code: e.code, file: e.details.file, line: e.details.line, column: e.details.column, kind: e.details.kind }, e.message);
    }
  }
}

function describeSkipped(o: SkippedObject): string {
  const ref = o.name === undefined ? "" : ` ${o.namespace === undefined ? "" : `${o.namespace}/`}${o.name}`;
  return `${o.kind}${ref} (${o.position.file}#${o.position.document})`;
}

function toProviderError(err: MeshfedError, at: string): ProviderError {
  const d = err.details;
  return {
    code: err.code,
    message: err.message,
    at,
    ...(typeof d.file === "string" ? { file: d.file } : {}),
    ...(typeof d.line === "number" ? { line: d.line } : {}),
    ...(typeof d.column === "number" ? { column: d.column } : {}),
  };
}
