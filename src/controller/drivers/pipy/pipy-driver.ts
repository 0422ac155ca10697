/**
 * The Pipy sidecar driver (DESIGN.md §2 drivers/pipy; docs/pipy.md): our own
 * PipyJS codebase, a `/view.json` shared by every proxy with the same view
 * inputs (rendered once per distinct inputs: view-cache.ts) and a small
 * per-proxy `/config.json` (id, listeners); /config.js merges the two. Pure
 * and deterministic: the scripts are constants and both JSON files are
 * canonical, so an unchanged view gives an unchanged hash and nothing is
 * pushed.
 *
 * Registered explicitly in the composition root (controller main.ts), never
 * by importing this module.
 */
import { createHash } from "node:crypto";
import type { ProxyView } from "../../catalog/types.js";
import { unpooledUtf8 } from "../../../common/unpooled-bytes.js";
import { canonicalJson, ConfigHasher } from "../config-hash.js";
import type { ConfigFile, JsonPatchOp, PodBootstrap, PodView, ProxyConfig, SidecarDriver } from "../types.js";
import { CODEBASE } from "./codebase/index.js";
import { buildPipyProxyConfig, buildPipyView, PIPY_DEFAULTS, pipyProxyConfigJson, pipyViewInputs, type PipyDriverOptions, type PipyViewInputs } from "./pipy-config.js";
import { ViewCache, type SharedView, type ViewCacheStats } from "./view-cache.js";
import { pipyPodPatch, podScrapeSettings, SIDECAR_METRICS_PATH, SIDECAR_METRICS_PORT } from "./pipy-pod-patch.js";

/** Where the host that runs Pipy tells the scripts its scrape and admin addresses (codebase/scrape.js). */
export const SCRAPE_FILE = "/scrape.json";
/** The shared part of a proxy's config (codebase/config.js loads it with /config.json). */
export const VIEW_FILE = "/view.json";
export const CONFIG_FILE = "/config.json";

export { PIPY_CONFIG_SCHEMA, PIPY_VIEW_SCHEMA, PIPY_DEFAULTS, CERT_PATHS, buildPipyConfig, mergePipyConfig, type PipyConfigV1, type PipyDriverOptions } from "./pipy-config.js";

export interface PipyDriverCacheOptions {
  /** Bound of the shared-view cache, bytes as view-cache.ts counts them (DEFAULT_VIEW_CACHE_BYTES). */
  readonly viewCacheBytes?: number;
}

export class PipyDriver implements SidecarDriver {
  readonly name = "pipy";
  readonly #options: PipyDriverOptions;
  readonly #scripts: readonly ConfigFile[];
  readonly #hasher: ConfigHasher;
  readonly #podFiles: readonly ConfigFile[];
  readonly #views: ViewCache;

  constructor(options: PipyDriverOptions, cache: PipyDriverCacheOptions = {}) {
    this.#options = options;
    // Encoded once: every render shares the same immutable script bytes (kept for the driver's life, so not pool slices).
    this.#scripts = CODEBASE.map((m) => Object.freeze({ path: m.path, content: unpooledUtf8(m.source) }));
    this.#hasher = new ConfigHasher(this.#scripts);
    this.#views = new ViewCache((inputs) => this.#renderView(inputs), cache.viewCacheBytes);
    this.#podFiles = [Object.freeze({ path: SCRAPE_FILE, content: unpooledUtf8(`${canonicalJson(podScrapeSettings())}\n`) })];
  }

  render(view: ProxyView): ProxyConfig {
    const shared = this.#views.get(pipyViewInputs(view));
    const own = buildPipyProxyConfig(view, this.#options, shared.rules, shared.id);
    const configFile: ConfigFile = { path: CONFIG_FILE, content: Buffer.from(pipyProxyConfigJson(own), "utf8") };
    // The scripts come first (main.js is the entry), then the shared view; both are hashed once per view, config.json per render.
    return { driver: this.name, files: [...this.#scripts, shared.file, configFile], hash: shared.hasher.hash([configFile]) };
  }

  /** The catalog was updated: shared parts not asked for since the update before this one are dropped (view-cache.ts). */
  catalogChanged(): void {
    this.#views.nextGeneration();
  }

  /** How often the shared part was rendered and found (the figure of "one render per distinct view"). */
  viewCacheStats(): ViewCacheStats {
    return this.#views.stats();
  }

  #renderView(inputs: PipyViewInputs): SharedView {
    const view = buildPipyView(inputs, this.#options);
    // Kept in the view cache across pushes: a buffer of its own, so an evicted view frees its memory (common/unpooled-bytes.ts).
    const content = unpooledUtf8(`${canonicalJson(view)}\n`);
    const file: ConfigFile = Object.freeze({ path: VIEW_FILE, content });
    return { id: createHash("sha256").update(content).digest("hex"), file, rules: view.inbound.rules, hasher: this.#hasher.extend([file]) };
  }

  /** The same in every pod: the ports pipyPodPatch gives the sidecar. */
  podFiles(): readonly ConfigFile[] {
    return this.#podFiles;
  }

  scrapeAnnotations(): Readonly<Record<string, string>> {
    return { "prometheus.io/scrape": "true", "prometheus.io/port": String(SIDECAR_METRICS_PORT), "prometheus.io/path": SIDECAR_METRICS_PATH };
  }

  patchPod(pod: PodView, bootstrap: PodBootstrap): JsonPatchOp[] {
    // The same offset as the rendered inbound listeners, so the redirect lands on them.
    return pipyPodPatch(pod, bootstrap, { inboundPortOffset: this.#options.inboundPortOffset ?? PIPY_DEFAULTS.inboundPortOffset });
  }
}
