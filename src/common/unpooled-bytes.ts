/**
 * Buffers that own their memory, for small bytes kept for a long time.
 *
 * Why: `Buffer.from(string)` and `Buffer.allocUnsafe(n)` below 4 KiB slice
 * Node's shared 8 KiB pool, and a pool slab is freed only when every slice of
 * it is gone. One long-lived slice therefore keeps the whole slab, with the
 * transient neighbours it was cut beside, resident. A controller's heap
 * snapshot at 1,000 agents showed 2,278 slabs (18 MB, the bench's whole
 * "external memory per agent") held by slices of a few hundred bytes to 2 KB:
 * cached view.json files and their encodings (docs/benchmarks.md, "pool
 * slabs"). Bytes made by these helpers are exactly their size and go when
 * they go. Only for bytes that outlive the call that made them: a copy costs
 * a malloc, which a transient buffer does not need.
 */

/** `text` as UTF-8 in a buffer of its own. */
export function unpooledUtf8(text: string): Buffer {
  const out = Buffer.allocUnsafeSlow(Buffer.byteLength(text, "utf8"));
  out.write(text, 0, "utf8");
  return out;
}

/** A buffer of `size` bytes of its own (contents unset, as allocUnsafe). */
export function unpooledBuffer(size: number): Buffer {
  return Buffer.allocUnsafeSlow(size);
}
