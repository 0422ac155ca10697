/**
 * What each proxy's view last rendered to, for as long as the catalog has not
 * changed since (issue 17, per-connect cost). A proxy that reconnects holding
 * that config (its Hello's hash) then costs no view and no render: nothing is
 * sent anyway. A catalog change (ProxyControlPlane#onCatalogChange) drops the
 * entries whose view depends on what changed (all of them for a spec change),
 * with the same dependency sets the push fan-out uses; a proxy view reads
 * nothing but the catalog (and the few inputs in the key), and whatever moves
 * the catalog between two of its updates (a withdrawal marking endpoints gone)
 * is followed by an update within the coalesce period, which re-renders the
 * proxies it affects as before. Only hashes and the dependency set the
 * session holds anyway are kept: no rendered files, no encoded messages
 * (those differ per stream: version, shared files already held).
 */
import type { ServiceKey } from "../../common/service.js";
import type { ProxyViewInput } from "../catalog/proxy-view.js";
import type { ProxyDependencies } from "../catalog/types.js";

export interface RenderedEntry {
  readonly hash: string;
  readonly dependencies: ProxyDependencies;
}

interface Stored extends RenderedEntry {
  readonly key: string;
}

export class RenderMemo {
  readonly #byProxy = new Map<string, Stored>();

  /**
   * The catalog changed: drops the entries it may affect (`spec`: all).
   * O(entries × keys) per change, against the renders the change causes anyway.
   */
  invalidate(keys: readonly ServiceKey[], spec: boolean): void {
    if (spec) {
      this.#byProxy.clear();
      return;
    }
    if (keys.length === 0) return;
    for (const [proxyId, entry] of this.#byProxy) {
      const deps = entry.dependencies;
      if (deps.all || keys.some((k) => deps.services.has(k))) this.#byProxy.delete(proxyId);
    }
  }

  get(input: ProxyViewInput): RenderedEntry | undefined {
    const entry = this.#byProxy.get(input.proxyId);
    return entry !== undefined && entry.key === inputKey(input) ? entry : undefined;
  }

  set(input: ProxyViewInput, entry: RenderedEntry): void {
    this.#byProxy.set(input.proxyId, { ...entry, key: inputKey(input) });
  }

  /** The proxy is withdrawn (or revoked): its entry cannot be useful. */
  delete(proxyId: string): void {
    this.#byProxy.delete(proxyId);
  }

  get size(): number {
    return this.#byProxy.size;
  }
}

/** Every field of the input a view depends on besides the catalog. */
function inputKey(input: ProxyViewInput): string {
  return JSON.stringify([input.service.namespace, input.service.name, input.addresses, input.serviceAccount ?? null, input.capture ?? null]);
}
