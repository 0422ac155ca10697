/**
 * The Pipy sidecar driver (DESIGN.md §2 drivers/pipy; docs/pipy.md): our own
 * PipyJS codebase plus a per-proxy `/config.json`. Pure and deterministic:
 * the scripts are constants and config.json is canonical JSON, so an
 * unchanged view gives an unchanged hash and nothing is pushed.
 *
 * Registered explicitly in the composition root (controller main.ts), never
 * by importing this module.
 */
import type { ProxyView } from "../../catalog/types.js";
import { canonicalJson, ConfigHasher } from "../config-hash.js";
import type { ConfigFile, JsonPatchOp, PodBootstrap, PodView, ProxyConfig, SidecarDriver } from "../types.js";
import { CODEBASE } from "./codebase/index.js";
import { buildPipyConfig, PIPY_DEFAULTS, type PipyDriverOptions } from "./pipy-config.js";
import { pipyPodPatch, podScrapeSettings, SIDECAR_METRICS_PATH, SIDECAR_METRICS_PORT } from "./pipy-pod-patch.js";

/** Where the host that runs Pipy tells the scripts its scrape and admin addresses (codebase/scrape.js). */
export const SCRAPE_FILE = "/scrape.json";

export { PIPY_CONFIG_SCHEMA, PIPY_DEFAULTS, CERT_PATHS, buildPipyConfig, type PipyConfigV1, type PipyDriverOptions } from "./pipy-config.js";

export class PipyDriver implements SidecarDriver {
  readonly name = "pipy";
  readonly #options: PipyDriverOptions;
  readonly #scripts: readonly ConfigFile[];
  readonly #hasher: ConfigHasher;
  readonly #podFiles: readonly ConfigFile[];

  constructor(options: PipyDriverOptions) {
    this.#options = options;
    // Encoded once: every render shares the same immutable script bytes.
    this.#scripts = CODEBASE.map((m) => Object.freeze({ path: m.path, content: Buffer.from(m.source, "utf8") }));
    this.#hasher = new ConfigHasher(this.#scripts);
    this.#podFiles = [Object.freeze({ path: SCRAPE_FILE, content: Buffer.from(`${canonicalJson(podScrapeSettings())}\n`, "utf8") })];
  }

  render(view: ProxyView): ProxyConfig {
    const config = buildPipyConfig(view, this.#options);
    const configFile: ConfigFile = { path: "/config.json", content: Buffer.from(`${canonicalJson(config)}\n`, "utf8") };
    // The scripts come first (main.js is the entry) and never change: only config.json is hashed per render.
    return { driver: this.name, files: [...this.#scripts, configFile], hash: this.#hasher.hash([configFile]) };
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
