/**
 * A minimal DER writer for the one structure on the issuance hot path: the
 * end-entity certificate (leaf-template.ts). Everything else (the CA, CSR
 * parsing, certificates read back) stays with @peculiar/x509; its generic
 * schema encoder costs ~1.7 ms per certificate, ~20 times the P-256 key
 * generation and signature together (docs/benchmarks.md, issue 17).
 *
 * Only definite, minimal lengths and the universal types we emit.
 */
export const TAG = {
  boolean: 0x01,
  integer: 0x02,
  bitString: 0x03,
  octetString: 0x04,
  oid: 0x06,
  printableString: 0x13,
  ia5String: 0x16,
  utcTime: 0x17,
  generalizedTime: 0x18,
  sequence: 0x30,
  set: 0x31,
} as const;

function lengthOctets(length: number): number[] {
  if (length < 0x80) return [length];
  const out: number[] = [];
  for (let n = length; n > 0; n = Math.floor(n / 256)) out.unshift(n % 256);
  return [0x80 | out.length, ...out];
}

/** One element: tag, length, the concatenated contents. */
export function tlv(tag: number, ...contents: readonly Uint8Array[]): Buffer {
  let size = 0;
  for (const c of contents) size += c.length;
  return Buffer.concat([Buffer.from([tag, ...lengthOctets(size)]), ...contents]);
}

export function sequence(...contents: readonly Uint8Array[]): Buffer {
  return tlv(TAG.sequence, ...contents);
}

/** OBJECT IDENTIFIER from dotted text (constants only: built once per module load). */
export function oid(dotted: string): Buffer {
  const arcs = dotted.split(".").map(Number);
  const [first = 0, second = 0, ...rest] = arcs;
  const bytes: number[] = [];
  for (const arc of [first * 40 + second, ...rest]) {
    const base128: number[] = [arc & 0x7f];
    for (let n = Math.floor(arc / 128); n > 0; n = Math.floor(n / 128)) base128.unshift(0x80 | (n & 0x7f));
    bytes.push(...base128);
  }
  return tlv(TAG.oid, Buffer.from(bytes));
}

/**
 * INTEGER from unsigned big-endian octets: leading zeros dropped, one 0x00
 * added when the top bit is set (a positive value, minimal encoding).
 */
export function unsignedInteger(octets: Uint8Array): Buffer {
  let start = 0;
  while (start < octets.length - 1 && octets[start] === 0) start++;
  const body = octets.subarray(start);
  return (body[0] ?? 0) > 0x7f ? tlv(TAG.integer, Buffer.from([0]), body) : tlv(TAG.integer, body.length === 0 ? Buffer.from([0]) : body);
}

/** BIT STRING with no unused bits. */
export function bitString(bytes: Uint8Array): Buffer {
  return tlv(TAG.bitString, Buffer.from([0]), bytes);
}

export function octetString(bytes: Uint8Array): Buffer {
  return tlv(TAG.octetString, bytes);
}

function two(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/**
 * RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050, whole
 * seconds, "Z". Years before 1950 cannot be written as UTCTime: undefined.
 */
export function x509Time(date: Date): Buffer | undefined {
  const year = date.getUTCFullYear();
  if (year < 1950 || year > 9999) return undefined;
  const rest = `${two(date.getUTCMonth() + 1)}${two(date.getUTCDate())}${two(date.getUTCHours())}${two(date.getUTCMinutes())}${two(date.getUTCSeconds())}Z`;
  return year <= 2049
    ? tlv(TAG.utcTime, Buffer.from(`${two(year % 100)}${rest}`, "latin1"))
    : tlv(TAG.generalizedTime, Buffer.from(`${year}${rest}`, "latin1"));
}
