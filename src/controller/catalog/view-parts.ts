/**
 * The shared parts of proxy views (proxy-view.ts SharedViewParts), built once
 * per distinct (service, identity, local ports) between two catalog updates
 * (issue 17, one render per distinct view). A mesh-wide change re-renders
 * every proxy; the ten proxies of one service then cost one outbound list,
 * not ten, and they share the very objects, which lets the Pipy driver find
 * its shared view.json by identity instead of by the inputs' JSON.
 *
 * Cleared by the catalog whenever it applies an update (MeshCatalog#flush), so
 * a part never outlives the endpoints and spec it was built from. What moves
 * between two updates without one (an endpoint's proxy gone, a VIP) is
 * followed by an update within the coalesce period, which clears this and
 * re-renders the proxies that depend on it, as render-memo.ts relies on too.
 *
 * Deep-frozen: every proxy with the key shares one object, so code that
 * edited a part in place would throw instead of changing other proxies' views.
 */
import type { SharedViewParts } from "./proxy-view.js";
import type { ProxyDependencies } from "./types.js";

export class ViewParts {
  readonly #parts = new Map<string, SharedViewParts>();
  /** Keyed by service and identity: what a view depends on does not depend on the ports. */
  readonly #dependencies = new Map<string, ProxyDependencies>();
  #builds = 0;
  #hits = 0;

  get(key: string, build: () => SharedViewParts): SharedViewParts {
    const known = this.#parts.get(key);
    if (known !== undefined) {
      this.#hits += 1;
      return known;
    }
    const parts = deepFreeze(build());
    this.#builds += 1;
    this.#parts.set(key, parts);
    return parts;
  }

  /** A proxy's dependencies; the Set is shared too (read-only by type), which lets the session index skip an unchanged one. */
  dependencies(key: string, build: () => ProxyDependencies): ProxyDependencies {
    let known = this.#dependencies.get(key);
    if (known === undefined) this.#dependencies.set(key, (known = Object.freeze(build())));
    return known;
  }

  clear(): void {
    this.#parts.clear();
    this.#dependencies.clear();
  }

  stats(): { builds: number; hits: number; entries: number } {
    return { builds: this.#builds, hits: this.#hits, entries: this.#parts.size };
  }
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object" && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value as object)) deepFreeze(v);
  }
  return value;
}
