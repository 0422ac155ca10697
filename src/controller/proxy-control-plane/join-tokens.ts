/**
 * Join tokens: DESIGN.md §3 flow 3. A token is `mfjt.<id>.<secret>`; only a
 * sha256 of the secret is stored (`tokens/<id>`), so a copy of the data
 * directory cannot enroll anything. Each token is bound to one service and
 * has a lifetime and a number of uses.
 *
 * Each use records the requesting key's fingerprint and the proxy id chosen
 * for it, in the same write that spends the use. An agent killed after the
 * controller answered but before it stored the answer retries with the same
 * key on restart; that retry gets its proxy id back without spending another
 * use, so a single-use token still enrolls the agent (issue 9, crash
 * consistency). Another key gets nothing more than the uses left.
 */
import { SerialQueue } from "../../common/serial-queue.js";
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { z } from "zod";
import { MeshfedError } from "../../common/errors.js";
import { parseServiceKey, serviceKey, type ServiceRef } from "../../common/service.js";
import type { StateStore } from "../store/types.js";

export const TOKEN_ERRORS = {
  unknown: "MESHFED_TOKEN_UNKNOWN",
  expired: "MESHFED_TOKEN_EXPIRED",
  usedUp: "MESHFED_TOKEN_USED_UP",
  revoked: "MESHFED_TOKEN_REVOKED",
  invalid: "MESHFED_TOKEN_INVALID_REQUEST",
} as const;

const PREFIX = "tokens";
const TOKEN = /^mfjt\.([0-9a-f]{16})\.([A-Za-z0-9_-]{43})$/;
export const MAX_TOKEN_TTL_MS = 30 * 24 * 3_600_000;
export const MAX_TOKEN_USES = 10_000;

const recordSchema = z.strictObject({
  id: z.string().regex(/^[0-9a-f]{16}$/),
  service: z.string(),
  secretSha256: z.string().regex(/^[0-9a-f]{64}$/),
  createdAt: z.string(),
  expiresAt: z.string(),
  uses: z.number().int().positive(),
  used: z.number().int().nonnegative(),
  revokedAt: z.string().optional(),
  lastUsedAt: z.string().optional(),
  enrollments: z.array(z.strictObject({ keySha256: z.string().regex(/^[0-9a-f]{64}$/), proxyId: z.string().min(1) })).optional(),
});
type TokenRecord = z.infer<typeof recordSchema>;

export type TokenState = "active" | "expired" | "used-up" | "revoked";

/** What the admin API shows: never the secret, never its hash. */
export interface TokenInfo {
  readonly id: string;
  readonly service: string;
  readonly createdAt: string;
  readonly expiresAt: string;
  readonly uses: number;
  readonly used: number;
  readonly state: TokenState;
}

/** One enrollment attempt: who asks (their key) and the proxy id they would get. */
export interface EnrollmentAttempt {
  readonly keySha256: string;
  readonly proxyId: string;
}

export interface ConsumedToken {
  readonly id: string;
  readonly service: ServiceRef;
  /** The attempt's proxy id, or the one the same key got before. */
  readonly proxyId: string | undefined;
  /** True when this is the same key enrolling again: no use was spent (so nothing to refund). */
  readonly retry: boolean;
}

export interface JoinTokensOptions {
  readonly store: StateStore;
  readonly now?: () => Date;
}

export class JoinTokens {
  readonly #store: StateStore;
  readonly #now: () => Date;
  readonly #records = new Map<string, TokenRecord>();
  /** Consumption is a read-modify-write: one at a time, so a single-use token is used once. */
  readonly #writes = new SerialQueue();

  private constructor(options: JoinTokensOptions) {
    this.#store = options.store;
    this.#now = options.now ?? (() => new Date());
  }

  static async load(options: JoinTokensOptions, onCorrupt: (key: string, err: unknown) => void): Promise<JoinTokens> {
    const tokens = new JoinTokens(options);
    for (const { key, value } of await options.store.list(PREFIX)) {
      try {
        const record = recordSchema.parse(JSON.parse(Buffer.from(value).toString("utf8")));
        tokens.#records.set(record.id, record);
      } catch (err) {
        onCorrupt(key, err);
      }
    }
    return tokens;
  }

  async create(request: { service: ServiceRef; ttlMs: number; uses: number }): Promise<{ token: string; info: TokenInfo }> {
    const { ttlMs, uses } = request;
    const service = parseServiceKey(serviceKey(request.service));
    if (!Number.isFinite(ttlMs) || ttlMs < 1000 || ttlMs > MAX_TOKEN_TTL_MS) {
      throw new MeshfedError(TOKEN_ERRORS.invalid, `token ttl must be between 1s and ${MAX_TOKEN_TTL_MS / 3_600_000}h`);
    }
    if (!Number.isInteger(uses) || uses < 1 || uses > MAX_TOKEN_USES) {
      throw new MeshfedError(TOKEN_ERRORS.invalid, `token uses must be a whole number between 1 and ${MAX_TOKEN_USES}`);
    }
    const id = randomBytes(8).toString("hex");
    const secret = randomBytes(32).toString("base64url");
    const now = this.#now();
    const record: TokenRecord = {
      id, service: serviceKey(service), secretSha256: sha256(secret),
      createdAt: now.toISOString(), expiresAt: new Date(now.getTime() + ttlMs).toISOString(), uses, used: 0,
    };
    await this.#store.put(`${PREFIX}/${id}`, JSON.stringify(record), { secret: true });
    this.#records.set(id, record);
    return { token: `mfjt.${id}.${secret}`, info: this.#info(record) };
  }

  /**
   * Spends one use of a token and returns the service it is bound to. The use
   * is persisted before this resolves, so a crash afterwards can never let the
   * same single-use token enroll twice. With an attempt, a key that already
   * enrolled with this token gets its earlier proxy id back and spends nothing.
   */
  consume(token: string, attempt?: EnrollmentAttempt): Promise<ConsumedToken> {
    return this.#serialised(async () => {
      const record = this.#verify(token);
      const service = parseServiceKey(record.service);
      const earlier = attempt && record.enrollments?.find((e) => e.keySha256 === attempt.keySha256);
      // Revoked or expired tokens refuse retries too: the retry window is the token's lifetime.
      if (earlier !== undefined && this.#state(record) !== "revoked" && this.#state(record) !== "expired") {
        return { id: record.id, service, proxyId: earlier.proxyId, retry: true };
      }
      this.#checkState(record);
      const next: TokenRecord = {
        ...record, used: record.used + 1, lastUsedAt: this.#now().toISOString(),
        ...(attempt ? { enrollments: [...(record.enrollments ?? []), { keySha256: attempt.keySha256, proxyId: attempt.proxyId }] } : {}),
      };
      await this.#store.put(`${PREFIX}/${record.id}`, JSON.stringify(next), { secret: true });
      this.#records.set(record.id, next);
      return { id: record.id, service, proxyId: attempt?.proxyId, retry: false };
    });
  }

  /**
   * Gives a use back when enrollment failed for a reason that is not the
   * token's (a malformed CSR), with the attempt's record when given.
   */
  refund(id: string, proxyId?: string): Promise<void> {
    return this.#serialised(async () => {
      const record = this.#records.get(id);
      if (!record || record.used === 0) return;
      const enrollments = record.enrollments?.filter((e) => e.proxyId !== proxyId);
      const next = { ...record, used: record.used - 1, ...(enrollments ? { enrollments } : {}) };
      await this.#store.put(`${PREFIX}/${id}`, JSON.stringify(next), { secret: true });
      this.#records.set(id, next);
    });
  }

  revoke(id: string): Promise<TokenInfo> {
    return this.#serialised(async () => {
      const record = this.#records.get(id);
      if (!record) throw new MeshfedError(TOKEN_ERRORS.unknown, `no join token with id "${id}"`);
      if (record.revokedAt) return this.#info(record);
      const next = { ...record, revokedAt: this.#now().toISOString() };
      await this.#store.put(`${PREFIX}/${id}`, JSON.stringify(next), { secret: true });
      this.#records.set(id, next);
      return this.#info(next);
    });
  }

  list(): TokenInfo[] {
    return [...this.#records.values()].sort((a, b) => (a.createdAt < b.createdAt ? -1 : 1)).map((r) => this.#info(r));
  }

  /** The record of a token whose secret matches; throws UNKNOWN otherwise. */
  #verify(token: string): TokenRecord {
    const m = TOKEN.exec(token.trim());
    const record = m ? this.#records.get(m[1]!) : undefined;
    // A wrong secret and an unknown id answer alike: nothing to learn from probing.
    if (!m || !record || !timingSafeEqual(Buffer.from(sha256(m[2]!), "hex"), Buffer.from(record.secretSha256, "hex"))) {
      throw new MeshfedError(TOKEN_ERRORS.unknown, "the join token is not known to this controller");
    }
    return record;
  }

  #checkState(record: TokenRecord): void {
    const state = this.#state(record);
    if (state === "revoked") throw new MeshfedError(TOKEN_ERRORS.revoked, `join token ${record.id} was revoked at ${record.revokedAt}`);
    if (state === "expired") throw new MeshfedError(TOKEN_ERRORS.expired, `join token ${record.id} expired at ${record.expiresAt}`);
    if (state === "used-up") throw new MeshfedError(TOKEN_ERRORS.usedUp, `join token ${record.id} has been used ${record.used} of ${record.uses} time(s)`);
  }

  #state(r: TokenRecord): TokenState {
    if (r.revokedAt) return "revoked";
    if (this.#now().getTime() >= Date.parse(r.expiresAt)) return "expired";
    if (r.used >= r.uses) return "used-up";
    return "active";
  }

  #info(r: TokenRecord): TokenInfo {
    return { id: r.id, service: r.service, createdAt: r.createdAt, expiresAt: r.expiresAt, uses: r.uses, used: r.used, state: this.#state(r) };
  }

  #serialised<T>(fn: () => Promise<T>): Promise<T> {
    return this.#writes.run(fn);
  }
}

function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}
