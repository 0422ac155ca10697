/**
 * The part every snapshot-style provider shares (on-prem file, Azure polls):
 * it holds one immutable view of services → endpoints, replaces it whole,
 * and tells listeners which services changed. The providers build their
 * views differently; how a view is served and announced is the same.
 */
import { Listeners } from "../../common/emitter.js";
import type { ServiceKey } from "../../common/service.js";
import { changedServices } from "./endpoint-lists.js";
import type { ProviderEndpoint, ServiceEndpoints } from "./types.js";

export abstract class ViewBackedProvider {
  #view: ReadonlyMap<ServiceKey, ServiceEndpoints> = new Map();
  readonly #listeners = new Listeners<readonly ServiceKey[]>();

  services(): Iterable<ServiceEndpoints> {
    return this.#view.values();
  }

  endpoints(service: ServiceKey): readonly ProviderEndpoint[] | undefined {
    return this.#view.get(service)?.endpoints;
  }

  on(_event: "change", fn: (changed: readonly ServiceKey[]) => void): () => void {
    return this.#listeners.add(fn);
  }

  /** The view served now. */
  protected get view(): ReadonlyMap<ServiceKey, ServiceEndpoints> {
    return this.#view;
  }

  /**
   * Serves `next` from now on and answers the services whose endpoints
   * changed; announce them once the provider's status says the same.
   */
  protected replaceView(next: ReadonlyMap<ServiceKey, ServiceEndpoints>): ServiceKey[] {
    const changed = changedServices(this.#view, next);
    this.#view = next;
    return changed;
  }

  protected announce(changed: readonly ServiceKey[]): void {
    if (changed.length > 0) this.#listeners.emit(changed);
  }
}
