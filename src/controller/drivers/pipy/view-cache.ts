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
 * Two catalog generations are kept: after each catalog update (nextGeneration)
 * the views no render has asked for since the update before it go. Every
 * catalog update makes views stale (a service's endpoints changed, so do its
 * callers' inputs); kept until a byte bound, the stale ones were most of the
 * cache: 1,160 entries for 100 current views after 1,000 agents connected
 * (docs/benchmarks.md, "pool slabs"). A view evicted while some proxy still
 * has it is rendered again, to the same bytes, the next time one asks.
 * Bounded as well by bytes (least recently used out), against a mesh whose
 * views of one generation alone would not fit.
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
  /** What the entries hold, as the bound counts it (entryBytes). */
  readonly bytes: number;
  /** Entries dropped at a new generation: not asked for since the catalog update before the last one. */
  readonly staleEvictions: number;
}

/** Default bound: 64 MiB as entryBytes counts it, ~13,000 views of 2 KB each: two generations of a mesh of 6,000 distinct views. */
export const DEFAULT_VIEW_CACHE_BYTES = 64 * 1024 * 1024;

interface Entry {
  readonly view: SharedView;
  readonly bytes: number;
  /** The generation of the last render that asked for it. */
  generation: number;
}

/**
 * What one entry keeps alive, as the bound counts it: view.json twice (the
 * file, and the transport's encoding of it with its sha256, which lives as
 * long as the file: proxy-control-plane/config-message.ts) and the key.
 */
function entryBytes(view: SharedView, key: string): number {
  return 2 * view.file.content.length + key.length;
}

export class ViewCache {
  readonly #render: (inputs: PipyViewInputs) => SharedView;
  readonly #maxBytes: number;
  /** Insertion order is recency: a hit moves its entry to the end, so generations only grow along the map. */
  readonly #entries = new Map<string, Entry>();
  /** Keys of inputs made of frozen parts, by their outbound list (#keyOf). */
  readonly #keys = new WeakMap<object, Array<{ readonly inputs: PipyViewInputs; readonly key: string }>>();
  #bytes = 0;
  #generation = 0;
  #staleEvictions = 0;
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
      hit.generation = this.#generation;
      this.#entries.delete(key);
      this.#entries.set(key, hit);
      return hit.view;
    }
    const view = this.#render(inputs);
    this.#renders += 1;
    const entry: Entry = { view, bytes: entryBytes(view, key), generation: this.#generation };
    this.#entries.set(key, entry);
    this.#bytes += entry.bytes;
    // The newest entry always stays, even alone over the bound: it is about to be sent.
    for (const [k, old] of this.#entries) {
      if (this.#bytes <= this.#maxBytes || k === key) break;
      this.#drop(k, old);
    }
    return view;
  }

  /**
   * The catalog was updated: views no render asked for since the update
   * before this one go (they are at the front: the map is in order of use).
   */
  nextGeneration(): void {
    this.#generation += 1;
    for (const [k, old] of this.#entries) {
      if (old.generation >= this.#generation - 1) break;
      this.#drop(k, old);
      this.#staleEvictions += 1;
    }
  }

  #drop(key: string, entry: Entry): void {
    this.#entries.delete(key);
    this.#bytes -= entry.bytes;
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
    return { renders: this.#renders, hits: this.#hits, keysByParts: this.#keysByParts, entries: this.#entries.size, bytes: this.#bytes, staleEvictions: this.#staleEvictions };
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
