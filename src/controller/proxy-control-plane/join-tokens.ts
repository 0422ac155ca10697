/**
 * Join tokens: DESIGN.md §3 flow 3. A token is `mfjt.<id>.<secret>`; only a
 * sha256 of the secret is stored (`tokens/<id>`), so a copy of the data
 * directory cannot enroll anything. Each token is bound to one service and
 * has a lifetime and a number of uses, and may name the ServiceAccount its
 * agents run as (absent: the service's name, the identity before accounts).
 *
 * Each use records the requesting key's fingerprint and the proxy id chosen
 * for it, in the same write that spends the use. An agent killed after the
 * controller answered but before it stored the answer retries with the same
 * key on restart; that retry gets its proxy id back without spending another
 * use, so a single-use token still enrolls the agent (issue 9, crash
 * consistency). Another key gets nothing more than the uses left.
 *
 * The retry exists only for that lost answer, so it closes for good (issue
 * 16) as soon as the proxy proved it holds an answer (a certificate of its
 * proxy id was claimed by a Connect) or an operator revoked one: from then
 * on the same key gets MESHFED_TOKEN_RETRY_CLOSED, whatever uses are left.
 * The closure is written into the token record (`retryClosedAt`), in the
 * same store, so it holds across restarts and replicas; the caller may also
 * pass a check of the certificate registry, which closes it at the retry
 * for records written before the closure existed.
 *
 * Replicas sharing a store (docs/ha.md) consume the same tokens: every change
 * of a record is a compare-and-put against the stored bytes, so a single-use
 * token enrolls once across all replicas; the list follows the store's watch.
 */
import { SerialQueue } from "../../common/serial-queue.js";
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { z } from "zod";
import { healthProbesSchema, PROBE_INVALID, probeIssue, type HealthProbe } from "../../common/health-probe.js";
import { isServiceAccountName } from "../../common/declared-protocol.js";
import { MeshfedError } from "../../common/errors.js";
import { parseServiceKey, serviceKey, type ServiceRef } from "../../common/service.js";
import type { StateStore } from "../store/types.js";

export const TOKEN_ERRORS = {
  unknown: "MESHFED_TOKEN_UNKNOWN",
  expired: "MESHFED_TOKEN_EXPIRED",
  usedUp: "MESHFED_TOKEN_USED_UP",
  revoked: "MESHFED_TOKEN_REVOKED",
  invalid: "MESHFED_TOKEN_INVALID_REQUEST",
  retryClosed: "MESHFED_TOKEN_RETRY_CLOSED",
  invalidServiceAccount: "MESHFED_TOKEN_INVALID_SERVICE_ACCOUNT",
} as const;

const PREFIX = "tokens";
const TOKEN = /^mfjt\.([0-9a-f]{16})\.([A-Za-z0-9_-]{43})$/;
export const MAX_TOKEN_TTL_MS = 30 * 24 * 3_600_000;
export const MAX_TOKEN_USES = 10_000;
/** How long a token that can no longer enroll stays listed after it expires. */
export const TOKEN_RETENTION_MS = 24 * 3_600_000;
const MAX_WRITE_ATTEMPTS = 8;
const UNKNOWN_TOKEN = "the join token is not known to this controller";

const recordSchema = z.strictObject({
  id: z.string().regex(/^[0-9a-f]{16}$/),
  service: z.string(),
  serviceAccount: z.string().refine(isServiceAccountName).optional(),
  /** Health probes agents enrolled with it run (docs/agent.md, "Health probes"). */
  probes: healthProbesSchema.optional(),
  secretSha256: z.string().regex(/^[0-9a-f]{64}$/),
  createdAt: z.string(),
  expiresAt: z.string(),
  uses: z.number().int().positive(),
  used: z.number().int().nonnegative(),
  revokedAt: z.string().optional(),
  lastUsedAt: z.string().optional(),
  enrollments: z.array(z.strictObject({
    keySha256: z.string().regex(/^[0-9a-f]{64}$/),
    proxyId: z.string().min(1),
    /** Set once the proxy claimed or lost a certificate: no same-key retry after this. */
    retryClosedAt: z.string().optional(),
  })).optional(),
});
type TokenRecord = z.infer<typeof recordSchema>;

export type TokenState = "active" | "expired" | "used-up" | "revoked";

/** What the admin API shows: never the secret, never its hash. */
export interface TokenInfo {
  readonly id: string;
  readonly service: string;
  /** The account agents enrolled with it run as; absent = the service's name. */
  readonly serviceAccount?: string;
  /** Health probes agents enrolled with it run; absent: none. */
  readonly probes?: readonly HealthProbe[];
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
  readonly serviceAccount?: string;
  readonly probes?: readonly HealthProbe[];
  /** The attempt's proxy id, or the one the same key got before. */
  readonly proxyId: string | undefined;
  /** True when this is the same key enrolling again: no use was spent (so nothing to refund). */
  readonly retry: boolean;
}

/** One consume call waiting for its token's next batch. */
interface UseRequest {
  readonly secret: string | undefined;
  readonly attempt: EnrollmentAttempt | undefined;
  readonly retryOpen: ((proxyId: string) => boolean) | undefined;
  readonly resolve: (consumed: ConsumedToken) => void;
  readonly reject: (err: unknown) => void;
}

export interface JoinTokensOptions {
  readonly store: StateStore;
  readonly now?: () => Date;
}

export class JoinTokens {
  readonly #store: StateStore;
  readonly #now: () => Date;
  readonly #records = new Map<string, TokenRecord>();
  /**
   * Consumption is a read-modify-write: one at a time per token, so a
   * single-use token is used once. Different tokens go in parallel, so that
   * their store writes share a group commit (issue 17); the compare-and-put
   * in #modify would keep them correct even without this queue.
   */
  readonly #writes = new Map<string, { queue: SerialQueue; waiting: number }>();
  /** Per token id, the uses waiting for the next batch (consume); absent once that batch has started. */
  readonly #consuming = new Map<string, UseRequest[]>();

  private constructor(options: JoinTokensOptions) {
    this.#store = options.store;
    this.#now = options.now ?? (() => new Date());
  }

  /** Loads every token; with a `signal`, follows other replicas' changes until it aborts. */
  static async load(options: JoinTokensOptions, onCorrupt: (key: string, err: unknown) => void, signal?: AbortSignal): Promise<JoinTokens> {
    const tokens = new JoinTokens(options);
    const observe = (key: string, value: Uint8Array | undefined) => {
      if (value === undefined) {
        tokens.#records.delete(key.slice(PREFIX.length + 1));
        return;
      }
      const record = parseRecord(value);
      if (record) tokens.#records.set(record.id, record);
      else onCorrupt(key, new MeshfedError("MESHFED_TOKEN_RECORD_CORRUPT", `${key} is not a join token record`));
    };
    // Watch before listing, so that nothing written in between is missed.
    if (signal) await options.store.watch(PREFIX, (change) => observe(change.key, change.value), signal);
    for (const { key, value } of await options.store.list(PREFIX)) observe(key, value);
    return tokens;
  }

  async create(request: { service: ServiceRef; ttlMs: number; uses: number; serviceAccount?: string | undefined; probes?: readonly unknown[] | undefined }): Promise<{ token: string; info: TokenInfo }> {
    const { ttlMs, uses, serviceAccount } = request;
    let probes: HealthProbe[] | undefined;
    if (request.probes !== undefined && request.probes.length > 0) {
      const parsed = healthProbesSchema.safeParse(request.probes);
      if (!parsed.success) throw new MeshfedError(PROBE_INVALID, `token probes: ${probeIssue(parsed.error)}`);
      probes = parsed.data;
    }
    if (serviceAccount !== undefined && !isServiceAccountName(serviceAccount)) {
      throw new MeshfedError(TOKEN_ERRORS.invalidServiceAccount, `serviceAccount "${serviceAccount}" is not a DNS-1123 subdomain (lower-case letters, digits, '-' and '.')`);
    }
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
      id, service: serviceKey(service), ...(serviceAccount === undefined ? {} : { serviceAccount }), ...(probes === undefined ? {} : { probes }), secretSha256: sha256(secret),
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
   *
   * Uses of one token that arrive while its record is being written are
   * decided together, in arrival order, against one read of the record and
   * written by one compare-and-put (issue 17): a token shared by a fleet then
   * costs one durable write per group commit instead of one per agent, one
   * after the other. Each use is still checked against the uses left by the
   * ones before it, so the batch can never spend more than the token has.
   */
  consume(token: string, attempt?: EnrollmentAttempt, retryOpen?: (proxyId: string) => boolean): Promise<ConsumedToken> {
    const m = TOKEN.exec(token.trim());
    const id = m?.[1];
    if (id === undefined) return Promise.reject(new MeshfedError(TOKEN_ERRORS.unknown, UNKNOWN_TOKEN));
    return new Promise<ConsumedToken>((resolve, reject) => {
      let batch = this.#consuming.get(id);
      if (batch === undefined) {
        const fresh: UseRequest[] = [];
        batch = fresh;
        this.#consuming.set(id, fresh);
        void this.#serialised(id, async () => {
          // From here on, new uses wait for the next batch.
          if (this.#consuming.get(id) === fresh) this.#consuming.delete(id);
          await this.#consumeBatch(id, fresh);
        });
      }
      batch.push({ secret: m?.[2], attempt, retryOpen, resolve, reject });
    });
  }

  /** One read-modify-write for every use in `batch`; each request settles with its own outcome once the write is durable. */
  async #consumeBatch(id: string, batch: readonly UseRequest[]): Promise<void> {
    let outcomes: Array<{ proxyId: string | undefined; retry: boolean } | { error: unknown }> = [];
    let record: TokenRecord;
    try {
      record = await this.#modify(id, (current) => {
        outcomes = [];
        let next = current;
        for (const request of batch) {
          try {
            const use = this.#use(next, request);
            next = use.record;
            outcomes.push(use.outcome);
          } catch (error) {
            outcomes.push({ error });
          }
        }
        return next;
      }, UNKNOWN_TOKEN);
    } catch (err) {
      for (const request of batch) request.reject(err);
      return;
    }
    const service = parseServiceKey(record.service);
    const account = { ...(record.serviceAccount === undefined ? {} : { serviceAccount: record.serviceAccount }), ...(record.probes === undefined ? {} : { probes: record.probes }) };
    batch.forEach((request, i) => {
      const outcome = outcomes[i]!;
      if ("error" in outcome) request.reject(outcome.error);
      else request.resolve({ id: record.id, service, ...account, proxyId: outcome.proxyId, retry: outcome.retry });
    });
  }

  /**
   * One use applied to `current`: the record to write and this use's
   * outcome, or a throw that refuses this use alone. A retry whose window
   * just closed writes the closure and answers MESHFED_TOKEN_RETRY_CLOSED.
   */
  #use(current: TokenRecord, request: UseRequest): { record: TokenRecord; outcome: { proxyId: string | undefined; retry: boolean } | { error: unknown } } {
    const { attempt, retryOpen } = request;
    this.#verifySecret(current, request.secret);
    const earlier = attempt && current.enrollments?.find((e) => e.keySha256 === attempt.keySha256);
    // Revoked or expired tokens refuse retries too: the retry window is the token's lifetime.
    const state = this.#state(current);
    if (earlier !== undefined && state !== "revoked" && state !== "expired") {
      if (earlier.retryClosedAt !== undefined) throw retryClosed(current.id, earlier.proxyId, earlier.retryClosedAt);
      if (retryOpen && !retryOpen(earlier.proxyId)) {
        // Written before refusing, so the registry need not keep saying so.
        const at = this.#now().toISOString();
        return { record: withRetryClosed(current, earlier.proxyId, at), outcome: { error: retryClosed(current.id, earlier.proxyId, at) } };
      }
      return { record: current, outcome: { proxyId: earlier.proxyId, retry: true } };
    }
    this.#checkState(current);
    return {
      record: {
        ...current, used: current.used + 1, lastUsedAt: this.#now().toISOString(),
        ...(attempt ? { enrollments: [...(current.enrollments ?? []), { keySha256: attempt.keySha256, proxyId: attempt.proxyId }] } : {}),
      },
      outcome: { proxyId: attempt?.proxyId, retry: false },
    };
  }

  /**
   * Gives a use back when enrollment failed for a reason that is not the
   * token's (a malformed CSR), with the attempt's record when given.
   */
  refund(id: string, proxyId?: string): Promise<void> {
    return this.#serialised(id, async () => {
      await this.#modify(id, (current) => {
        if (current.used === 0) return current;
        const enrollments = current.enrollments?.filter((e) => e.proxyId !== proxyId);
        return { ...current, used: current.used - 1, ...(enrollments ? { enrollments } : {}) };
      });
    });
  }

  /**
   * Ends the same-key retry of the enrollment that chose `proxyId` (its
   * certificate was claimed or revoked). Returns false when no token enrolled
   * that proxy (a sidecar, or a token already deleted).
   */
  closeRetry(proxyId: string): Promise<boolean> {
    // A proxy id stays with its token (a refund removes it only from an enrollment that failed).
    const record = [...this.#records.values()].find((r) => r.enrollments?.some((e) => e.proxyId === proxyId));
    if (!record) return Promise.resolve(false);
    return this.#serialised(record.id, async () => {
      const at = this.#now().toISOString();
      await this.#modify(record.id, (current) => withRetryClosed(current, proxyId, at));
      return true;
    });
  }

  revoke(id: string): Promise<TokenInfo> {
    return this.#serialised(id, async () => this.#info(await this.#modify(id, (current) => (current.revokedAt ? current : { ...current, revokedAt: this.#now().toISOString() }))));
  }

  /**
   * Deletes tokens that expired more than `retentionMs` ago (leader-only
   * work: docs/ha.md). Returns how many went.
   */
  async collectGarbage(retentionMs = TOKEN_RETENTION_MS): Promise<number> {
    const cutoff = this.#now().getTime() - retentionMs;
    let deleted = 0;
    for (const record of [...this.#records.values()]) {
      if (Date.parse(record.expiresAt) >= cutoff) continue;
      await this.#store.delete(`${PREFIX}/${record.id}`);
      this.#records.delete(record.id);
      deleted++;
    }
    return deleted;
  }

  /**
   * Read-modify-write of one record against the stored bytes (memory may
   * trail another replica), retried when another writer got in between.
   * `change` returns the current record to write nothing, or throws to refuse.
   */
  async #modify(id: string | undefined, change: (current: TokenRecord) => TokenRecord, unknownMessage = `no join token with id "${id}"`): Promise<TokenRecord> {
    const key = `${PREFIX}/${id}`;
    for (let attempt = 0; attempt < MAX_WRITE_ATTEMPTS; attempt++) {
      const bytes = id === undefined ? undefined : await this.#store.get(key);
      const current = bytes === undefined ? undefined : parseRecord(bytes);
      if (bytes === undefined || current === undefined) throw new MeshfedError(TOKEN_ERRORS.unknown, unknownMessage);
      const next = change(current);
      if (next === current) {
        this.#records.set(current.id, current);
        return current;
      }
      if (await this.#store.compareAndPut(key, bytes, JSON.stringify(next), { secret: true })) {
        this.#records.set(next.id, next);
        return next;
      }
    }
    throw new MeshfedError("MESHFED_STORE_CONFLICT", `join token ${id}: ${MAX_WRITE_ATTEMPTS} concurrent writes in a row; giving up`);
  }

  list(): TokenInfo[] {
    return [...this.#records.values()].sort((a, b) => (a.createdAt < b.createdAt ? -1 : 1)).map((r) => this.#info(r));
  }

  #verifySecret(record: TokenRecord, secret: string | undefined): void {
    // A wrong secret and an unknown id answer alike: nothing to learn from probing.
    if (secret === undefined || !timingSafeEqual(Buffer.from(sha256(secret), "hex"), Buffer.from(record.secretSha256, "hex"))) {
      throw new MeshfedError(TOKEN_ERRORS.unknown, UNKNOWN_TOKEN);
    }
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
    return { id: r.id, service: r.service, ...(r.serviceAccount === undefined ? {} : { serviceAccount: r.serviceAccount }), ...(r.probes === undefined ? {} : { probes: r.probes }), createdAt: r.createdAt, expiresAt: r.expiresAt, uses: r.uses, used: r.used, state: this.#state(r) };
  }

  #serialised<T>(id: string, fn: () => Promise<T>): Promise<T> {
    let entry = this.#writes.get(id);
    if (entry === undefined) {
      entry = { queue: new SerialQueue(), waiting: 0 };
      this.#writes.set(id, entry);
    }
    const mine = entry;
    mine.waiting++;
    return mine.queue.run(fn).finally(() => {
      if (--mine.waiting === 0 && this.#writes.get(id) === mine) this.#writes.delete(id);
    });
  }
}

/** The record with the retry of `proxyId` closed; the same object when it already is (nothing to write). */
function withRetryClosed(record: TokenRecord, proxyId: string, at: string): TokenRecord {
  const open = record.enrollments?.some((e) => e.proxyId === proxyId && e.retryClosedAt === undefined);
  if (!open) return record;
  return { ...record, enrollments: record.enrollments!.map((e) => (e.proxyId === proxyId && e.retryClosedAt === undefined ? { ...e, retryClosedAt: at } : e)) };
}

function retryClosed(tokenId: string, proxyId: string, since: string): MeshfedError {
  return new MeshfedError(TOKEN_ERRORS.retryClosed,
    `join token ${tokenId} already enrolled this key as proxy ${proxyId}, whose certificate has been claimed or revoked (since ${since}); a retry only replaces an answer that never arrived`);
}

function parseRecord(bytes: Uint8Array): TokenRecord | undefined {
  try {
    return recordSchema.parse(JSON.parse(Buffer.from(bytes).toString("utf8")));
  } catch {
    return undefined;
  }
}

function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}
