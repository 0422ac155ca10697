/**
 * Single-use, short-lived nonces for enrollment by attestation. Bound to
 * nothing secret: a nonce only proves that the document signed over it was
 * made after the controller handed it out, so a stolen document cannot be
 * replayed.
 *
 * Why stored records and not a self-verifying (HMAC) nonce: IMDS documents
 * its nonce as a 10-digit string, too short to carry a MAC, and single use
 * needs a record of the spending anyway. So each nonce is one record
 * `attest-nonces/<nonce>` in the state store, created with `create` (a
 * collision draws again) and spent with one compare-and-put, like a join
 * token's use (join-tokens.ts): replicas sharing the store (docs/ha.md)
 * accept a nonce issued by any of them, and exactly one Enroll spends it.
 * Issuing writes to the store for an unauthenticated caller, so the RPC
 * shares the Enroll rate limit per peer and each replica caps the nonces it
 * has outstanding.
 */
import { randomInt } from "node:crypto";
import { z } from "zod";
import { MeshfedError } from "../../common/errors.js";
import type { StateStore } from "../store/types.js";
import { ATTEST_ERRORS, attestError } from "./errors.js";

const PREFIX = "attest-nonces";
const NONCE = /^\d{10}$/;
const MAX_DRAWS = 8;
const MAX_WRITE_ATTEMPTS = 8;
export const DEFAULT_MAX_OUTSTANDING = 10_000;

const recordSchema = z.strictObject({
  nonce: z.string().regex(NONCE),
  issuedAt: z.iso.datetime(),
  expiresAt: z.iso.datetime(),
  usedAt: z.iso.datetime().optional(),
});
type NonceRecord = z.infer<typeof recordSchema>;

export interface AttestNoncesOptions {
  readonly store: StateStore;
  readonly ttlMs: number;
  readonly now?: () => Date;
  readonly maxOutstanding?: number;
}

export class AttestNonces {
  readonly #o: AttestNoncesOptions;
  readonly #now: () => Date;
  /** Expiry times of the nonces this replica issued and that may still be outstanding. */
  readonly #outstanding: number[] = [];

  constructor(options: AttestNoncesOptions) {
    this.#o = options;
    this.#now = options.now ?? (() => new Date());
  }

  async issue(): Promise<{ nonce: string; expiresAt: Date }> {
    const now = this.#now();
    while (this.#outstanding.length > 0 && this.#outstanding[0]! <= now.getTime()) this.#outstanding.shift();
    if (this.#outstanding.length >= (this.#o.maxOutstanding ?? DEFAULT_MAX_OUTSTANDING)) {
      throw attestError(ATTEST_ERRORS.busy, `${this.#outstanding.length} attestation nonces are outstanding on this controller; retry later`);
    }
    const expiresAt = new Date(now.getTime() + this.#o.ttlMs);
    for (let i = 0; i < MAX_DRAWS; i++) {
      // 10 digits: what IMDS accepts as a nonce. Leading zeros kept: it is a string.
      const nonce = String(randomInt(0, 1e10 - 1)).padStart(10, "0");
      const record: NonceRecord = { nonce, issuedAt: now.toISOString(), expiresAt: expiresAt.toISOString() };
      if (await this.#o.store.create(`${PREFIX}/${nonce}`, JSON.stringify(record))) {
        this.#outstanding.push(expiresAt.getTime());
        return { nonce, expiresAt };
      }
    }
    throw new MeshfedError("MESHFED_STORE_CONFLICT", `no free attestation nonce after ${MAX_DRAWS} draws`);
  }

  /** Spends `nonce`, or throws the reason it cannot be spent (unknown, used, expired). */
  async consume(nonce: string): Promise<void> {
    if (!NONCE.test(nonce)) throw attestError(ATTEST_ERRORS.nonceMismatch, "the document's nonce is not one this controller issued");
    const key = `${PREFIX}/${nonce}`;
    for (let attempt = 0; attempt < MAX_WRITE_ATTEMPTS; attempt++) {
      const bytes = await this.#o.store.get(key);
      const record = bytes === undefined ? undefined : parse(bytes);
      if (bytes === undefined || record === undefined) throw attestError(ATTEST_ERRORS.nonceMismatch, "the document's nonce is not one this controller issued (or it was collected long ago)");
      if (record.usedAt !== undefined) throw attestError(ATTEST_ERRORS.nonceReused, `nonce ${nonce} was already spent at ${record.usedAt}: a document is used once`);
      const now = this.#now();
      if (Date.parse(record.expiresAt) <= now.getTime()) throw attestError(ATTEST_ERRORS.nonceExpired, `nonce ${nonce} expired at ${record.expiresAt}; ask for a new one`);
      if (await this.#o.store.compareAndPut(key, bytes, JSON.stringify({ ...record, usedAt: now.toISOString() }))) return;
    }
    throw new MeshfedError("MESHFED_STORE_CONFLICT", `nonce ${nonce}: ${MAX_WRITE_ATTEMPTS} concurrent writes in a row`);
  }

  /**
   * Deletes nonces that expired more than `retentionMs` ago (leader-only
   * work). A spent nonce stays until then, so a replay within its lifetime
   * is named as a reuse; later the document is stale anyway.
   */
  async collectGarbage(retentionMs = this.#o.ttlMs): Promise<number> {
    const cutoff = this.#now().getTime() - retentionMs;
    let deleted = 0;
    for (const { key, value } of await this.#o.store.list(PREFIX)) {
      const record = parse(value);
      if (record !== undefined && Date.parse(record.expiresAt) >= cutoff) continue;
      await this.#o.store.delete(key);
      deleted++;
    }
    return deleted;
  }
}

function parse(bytes: Uint8Array): NonceRecord | undefined {
  try {
    return recordSchema.parse(JSON.parse(Buffer.from(bytes).toString("utf8")));
  } catch {
    return undefined;
  }
}
