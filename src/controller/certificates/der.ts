/**
 * A minimal DER reader for the few places where @peculiar/x509 is too
 * forgiving for untrusted input: it accepts trailing bytes after a CSR and
 * silently drops SAN entries it cannot represent (otherName, X.400, ...),
 * which would let a CSR smuggle names past a check that reads its parsed list.
 */
export interface Tlv {
  readonly tag: number;
  readonly start: number;
  readonly contentStart: number;
  readonly end: number;
}

export function readTlv(buf: Uint8Array, offset: number, limit = buf.length): Tlv {
  const tag = buf[offset];
  const first = buf[offset + 1];
  if (tag === undefined || first === undefined || offset + 2 > limit) throw new Error("truncated DER element");
  if ((tag & 0x1f) === 0x1f) throw new Error("multi-byte DER tags are not supported");
  let length = first;
  let p = offset + 2;
  if (first & 0x80) {
    const n = first & 0x7f;
    // Indefinite lengths (n = 0) are BER, not DER; > 3 octets would exceed any CSR we accept.
    if (n === 0 || n > 3) throw new Error("unsupported DER length encoding");
    length = 0;
    for (let i = 0; i < n; i++) {
      const b = buf[p++];
      if (b === undefined || p > limit) throw new Error("truncated DER length");
      length = length * 256 + b;
    }
  }
  const end = p + length;
  if (end > limit) throw new Error("DER element runs past its container");
  return { tag, start: offset, contentStart: p, end };
}

/** The elements inside a constructed element (SEQUENCE, SET, context tag). */
export function readChildren(buf: Uint8Array, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  let p = parent.contentStart;
  while (p < parent.end) {
    const child = readTlv(buf, p, parent.end);
    out.push(child);
    p = child.end;
  }
  return out;
}
