/**
 * Sidecar drivers: DESIGN.md §2 (SidecarDriver). A driver turns one proxy's
 * ProxyView into the files that proxy runs. It is pure and deterministic
 * (stable key order, no clock, no randomness), so an unchanged view gives an
 * unchanged hash and the control plane pushes nothing. The transport never
 * knows which driver produced a config.
 *
 * `patchPod` (the Kubernetes injector's half of this border) joins the
 * interface with the injector; no driver needs it before then.
 */
import type { ProxyView } from "../catalog/types.js";

export interface ConfigFile {
  /** Starts with "/"; the entry file comes first in `files`. */
  readonly path: string;
  readonly content: Uint8Array;
}

export interface ProxyConfig {
  readonly driver: string;
  readonly files: readonly ConfigFile[];
  /** sha256 over every file's path and content, hex. */
  readonly hash: string;
}

export interface SidecarDriver {
  readonly name: string;
  render(view: ProxyView): ProxyConfig;
}
