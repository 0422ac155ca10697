/**
 * The mesh name table the agent's DNS answers from (proto MeshNames,
 * docs/dataplane.md "Mesh names"). Validated at the edge: it comes from the
 * controller and from disk (data-dir.ts keeps the last one received).
 */
import { isIPv4 } from "node:net";
import { z } from "zod";

const dnsName = z.string().min(1).max(253).regex(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/, "a lower-case DNS name without a trailing dot");

export const nameTableSchema = z.strictObject({
  hash: z.string().regex(/^[0-9a-f]{64}$/),
  zones: z.array(dnsName).max(16),
  records: z.array(z.strictObject({ name: dnsName, ipv4: z.array(z.string().refine((ip) => isIPv4(ip), "an IPv4 address")).max(16) })).max(100_000),
});

export type NameTable = z.infer<typeof nameTableSchema>;

export type Lookup =
  /** A mesh name: its addresses (empty: the name exists, with no A record). */
  | { readonly kind: "mesh"; readonly ipv4: readonly string[] }
  /** Under a mesh zone but not a mesh name: NXDOMAIN, never forwarded. */
  | { readonly kind: "nxdomain" }
  /** Not ours: forwarded to the host's resolvers. */
  | { readonly kind: "outside" };

/** Normalizes a question name: DNS names compare case-insensitively, and a trailing dot is the same name. */
export function normalizeName(name: string): string {
  const lower = name.toLowerCase();
  return lower.endsWith(".") ? lower.slice(0, -1) : lower;
}

export class NameLookup {
  readonly table: NameTable | undefined;
  readonly #records = new Map<string, readonly string[]>();
  readonly #zones: readonly string[];

  constructor(table: NameTable | undefined, defaultZones: readonly string[] = []) {
    this.table = table;
    this.#zones = table?.zones ?? defaultZones;
    for (const r of table?.records ?? []) this.#records.set(r.name, r.ipv4);
  }

  get zones(): readonly string[] {
    return this.#zones;
  }

  get size(): number {
    return this.#records.size;
  }

  lookup(qname: string): Lookup {
    const name = normalizeName(qname);
    const ipv4 = this.#records.get(name);
    if (ipv4 !== undefined) return { kind: "mesh", ipv4 };
    for (const zone of this.#zones) if (name === zone || name.endsWith(`.${zone}`)) return { kind: "nxdomain" };
    return { kind: "outside" };
  }
}
