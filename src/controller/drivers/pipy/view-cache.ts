/**
 * One render per distinct view (issue 17): the Pipy driver's shared part,
 * `/view.json`, rendered once per distinct PipyViewInputs and handed to every
 * proxy that has those inputs as the *same frozen ConfigFile*, so the
 * transport encodes it once and sends it by reference to agents that keep
 * shared files by hash (proxy-control-plane/config-message.ts).
 *
 * The key is the inputs' JSON. The inputs come from the
 * catalog's view builder, which always writes their fields in the same order,
 * so equal inputs give equal JSON; inputs that differ only in key order get
 * two entries with the same rendered content and id (a spare render, never a
 * wrong one: the content is a canonical function of the inputs alone).
 * JSON.stringify without a replacer is V8's fast path: keying costs a fraction
 * of a render.
 *
 * Bounded by the bytes of the rendered files and keys, least recently used first out:
 * a mesh-wide change leaves the previous generation of views behind, and they
 * go as the new ones come in.
 */
import type { ConfigHasher } from "../config-hash.js";
import type { ConfigFile } from "../types.js";
import type { PipyInboundRuleV1, PipyViewInputs } from "./pipy-config.js";

export interface SharedView {
  /** sha256 (hex) of the file's content: how config.json names it. */
  readonly id: string;
  /** Frozen: the transport's signal that every proxy with this view shares the object. */
  readonly file: ConfigFile;
  /** The rendered inbound rules (the per-proxy part derives its listeners' protocols from them). */
  readonly rules: readonly PipyInboundRuleV1[];
  /** The config hash state after the scripts and this file: a proxy adds only its own config.json. */
  readonly hasher: ConfigHasher;
}

export interface ViewCacheStats {
  /** Shared parts rendered (cache misses) since the driver was made. */
  readonly renders: number;
  /** Renders of a proxy that found its shared part in the cache. */
  readonly hits: number;
  /** Keys found by their frozen parts, without the inputs' JSON (#keyOf). */
  readonly keysByParts: number;
  readonly entries: number;
  /** Bytes of the cached view.json files and keys (the inputs' JSON). */
  readonly bytes: number;
}

/** Default bound: 32 MiB of view.json and keys, ~8,000 views of 2 KB each (a mesh-wide change holds two generations). */
export const DEFAULT_VIEW_CACHE_BYTES = 32 * 1024 * 1024;

export class ViewCache {
  readonly #render: (inputs: PipyViewInputs) => SharedView;
  readonly #maxBytes: number;
  /** Insertion order is recency: a hit moves its entry to the end. */
  readonly #entries = new Map<string, SharedView>();
  /** Keys of inputs made of frozen parts, by their outbound list (#keyOf). */
  readonly #keys = new WeakMap<object, Array<{ readonly inputs: PipyViewInputs; readonly key: string }>>();
  #bytes = 0;
  #renders = 0;
  #hits = 0;
  #keysByParts = 0;

  constructor(render: (inputs: PipyViewInputs) => SharedView, maxBytes = DEFAULT_VIEW_CACHE_BYTES) {
    this.#render = render;
    this.#maxBytes = maxBytes;
  }

  get(inputs: PipyViewInputs): SharedView {
    const key = this.#keyOf(inputs);
    const hit = this.#entries.get(key);
    if (hit !== undefined) {
      this.#hits += 1;
      this.#entries.delete(key);
      this.#entries.set(key, hit);
      return hit;
    }
    const view = this.#render(inputs);
    this.#renders += 1;
    this.#entries.set(key, view);
    this.#bytes += view.file.content.length + key.length;
    // The newest entry always stays, even alone over the bound: it is about to be sent.
    for (const [k, old] of this.#entries) {
      if (this.#bytes <= this.#maxBytes || k === key) break;
      this.#entries.delete(k);
      this.#bytes -= old.file.content.length + k.length;
    }
    return view;
  }

  /**
   * The JSON itself is the key (a sha256 of it cost more than the Map's own
   * string hashing); its length counts toward the bound. Inputs made of frozen
   * parts (the catalog's shared view parts, catalog/view-parts.ts) are keyed
   * once per distinct set of parts: the same frozen objects are the same
   * content, so the next proxy with them skips the JSON (7 % of a mesh-wide
   * push's main thread at N = 2,000). Remembered per outbound list, which
   * lives as long as the catalog keeps those parts.
   */
  #keyOf(inputs: PipyViewInputs): string {
    const outbound = inputs.outbound;
    if (!allFrozen(inputs)) return JSON.stringify(inputs);
    let known = this.#keys.get(outbound);
    if (known === undefined) this.#keys.set(outbound, (known = []));
    for (const k of known) {
      if (!sameFields(k.inputs, inputs)) continue;
      this.#keysByParts += 1;
      return k.key;
    }
    const key = JSON.stringify(inputs);
    // A few variants per outbound list at most (capture mode, passthrough): bounded anyway.
    if (known.length < MAX_KEYS_PER_PARTS) known.push({ inputs, key });
    return key;
  }

  stats(): ViewCacheStats {
    return { renders: this.#renders, hits: this.#hits, keysByParts: this.#keysByParts, entries: this.#entries.size, bytes: this.#bytes };
  }
}

const MAX_KEYS_PER_PARTS = 8;

/** Every object-valued field frozen: equal references then mean equal content, now and later. */
function allFrozen(inputs: PipyViewInputs): boolean {
  for (const value of Object.values(inputs)) if (value !== null && typeof value === "object" && !Object.isFrozen(value)) return false;
  return true;
}

/** The same fields, each the same value or the same object (every field, so a field added later is compared too). */
function sameFields(a: PipyViewInputs, b: PipyViewInputs): boolean {
  const keys = Object.keys(a) as (keyof PipyViewInputs)[];
  if (keys.length !== Object.keys(b).length) return false;
  for (const k of keys) if (a[k] !== b[k]) return false;
  return true;
}
