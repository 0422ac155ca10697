/**
 * Leader election on etcd (docs/ha.md), etcd's election recipe: each replica
 * holds a lease and, under it, the key `election/leader/<leaseId>` whose value
 * is its replica id; the candidate whose key is oldest (lowest create
 * revision) leads. A killed leader is replaced once its lease expires
 * (`ttlSeconds`); a closed one revokes its lease, and the next replica takes
 * over at its next read (within a second). A candidacy whose lease is lost
 * (etcd away for longer than the TTL) steps down and campaigns again.
 *
 * Who leads is read with a sorted range query every second, with no watch.
 * etcd3's Campaign (1.1.2) made a follower wait for the leader's key in a watch
 * that resign() never cancels: closing the client with that watch attached
 * left the client's watch manager retrying its closed connection every two
 * seconds for ever once the stream broke (etcd restarted, or stopped after
 * the replicas), so the process never exited. Its ElectionObserver also names
 * the newer of two candidates whose keys arrive in one watch batch. The keys
 * are laid out as etcd3's Election lays them out, so replicas of either kind
 * agree on who leads.
 */
import type { Lease, Namespace } from "etcd3";
import { Listeners } from "../../common/emitter.js";
import type { Logger } from "../../common/logger.js";
import type { Leadership } from "./leadership.js";

export const ELECTION_NAME = "leader";
const RETRY_MS = 1_000;
const RESIGN_TIMEOUT_MS = 2_000;
const READ_MS = 1_000;

export interface ElectionSource {
  /** The keys of election `name` (`election/<name>/` under the store's prefix). */
  electionKeys(name: string): Namespace;
}

/** One campaign: its lease and, once written, its key (the lease id). */
interface Candidacy {
  readonly lease: Lease;
  key: string | undefined;
}

export class EtcdLeadership implements Leadership {
  readonly replicaId: string;
  readonly #keys: Namespace;
  readonly #ttlSeconds: number;
  readonly #log: Logger;
  readonly #listeners = new Listeners<boolean>();
  /** Campaign steps and reads under way: close() waits for them, so nothing it started writes after it returns. */
  readonly #inFlight = new Set<Promise<void>>();
  #candidacy: Candidacy | undefined;
  #reading = false;
  #readAgain = false;
  #readTimer: NodeJS.Timeout | undefined;
  #retry: NodeJS.Timeout | undefined;
  #leader = false;
  #leaderId: string | undefined;
  #closed = false;

  private constructor(source: ElectionSource, replicaId: string, ttlSeconds: number, logger: Logger) {
    this.replicaId = replicaId;
    this.#keys = source.electionKeys(ELECTION_NAME);
    this.#ttlSeconds = ttlSeconds;
    this.#log = logger.child({ component: "leadership" });
  }

  /** Starts campaigning; resolves once the current leader (if any) is known, not once elected. */
  static async start(options: { source: ElectionSource; replicaId: string; ttlSeconds: number; logger: Logger }): Promise<EtcdLeadership> {
    const leadership = new EtcdLeadership(options.source, options.replicaId, options.ttlSeconds, options.logger);
    await leadership.#read();
    leadership.#readTimer = setInterval(() => leadership.#track(leadership.#read()), READ_MS);
    leadership.#readTimer.unref();
    leadership.#campaignNow();
    return leadership;
  }

  isLeader(): boolean {
    return this.#leader;
  }

  leaderId(): string | undefined {
    return this.#leader ? this.replicaId : this.#leaderId;
  }

  on(_event: "change", fn: (leader: boolean) => void): () => void {
    return this.#listeners.add(fn);
  }

  #campaignNow(): void {
    if (this.#closed) return;
    const candidacy: Candidacy = { lease: this.#keys.lease(this.#ttlSeconds), key: undefined };
    this.#candidacy = candidacy;
    candidacy.lease.on("lost", (err: Error) => this.#lost(candidacy, err));
    this.#track((async () => {
      try {
        const id = await candidacy.lease.grant();
        // Create-if-absent: a lease id is unique, so this only guards a retried request.
        await this.#keys.if(id, "Create", "==", 0).then(this.#keys.put(id).value(this.replicaId).lease(id)).commit();
        if (candidacy !== this.#candidacy) return;
        candidacy.key = id;
        await this.#read();
      } catch (err) {
        this.#lost(candidacy, err);
      }
    })());
  }

  /** Steps down and campaigns again with a new lease; the old one is revoked (its key goes now) or, with etcd away, expires. */
  #lost(candidacy: Candidacy, err: unknown): void {
    if (this.#closed || candidacy !== this.#candidacy) return;
    this.#log.warn({ err, code: "MESHFED_ELECTION_LOST" }, "campaign failed; stepping down and campaigning again");
    this.#candidacy = undefined;
    this.#set(false);
    this.#track(revoke(candidacy.lease));
    this.#retry = setTimeout(() => this.#campaignNow(), RETRY_MS);
    this.#retry.unref();
  }

  /**
   * Reads every candidate's key, oldest first: the oldest leads. Single-flight
   * (an old answer never overrides a newer one); a read asked for meanwhile
   * runs right after, so a freshly written key is judged at once.
   */
  async #read(): Promise<void> {
    if (this.#closed) return;
    if (this.#reading) {
      this.#readAgain = true;
      return;
    }
    this.#reading = true;
    try {
      do {
        this.#readAgain = false;
        await this.#readOnce();
      } while (this.#readAgain && !this.#closed);
    } finally {
      this.#reading = false;
    }
  }

  async #readOnce(): Promise<void> {
    // Judged against the key as it was before the read: an answer from before our key was written must not count as "our key is gone".
    const candidacy = this.#candidacy;
    const key = candidacy?.key;
    try {
      const { kvs } = await this.#keys.getAll().sort("Create", "Ascend").exec();
      if (this.#closed) return;
      const id = kvs[0]?.value.toString("utf8");
      if (id !== this.#leaderId) this.#log.info({ leaderId: id }, "leader changed");
      this.#leaderId = id;
      if (candidacy === undefined || key === undefined || candidacy !== this.#candidacy) return;
      if (!kvs.some((kv) => kv.key.toString("utf8") === key)) {
        // etcd expired our lease before the client noticed (a long pause): our key is gone.
        this.#lost(candidacy, new Error("this replica's election key is gone"));
        return;
      }
      this.#set(kvs[0]!.key.toString("utf8") === key);
    } catch (err) {
      this.#log.debug({ err }, "cannot read the current leader; keeping the last known one");
    }
  }

  #set(leader: boolean): void {
    if (this.#leader === leader) return;
    this.#leader = leader;
    if (leader) this.#log.info({ replicaId: this.replicaId }, "elected leader");
    this.#listeners.emit(leader);
  }

  #track(work: Promise<void>): void {
    this.#inFlight.add(work);
    void work.finally(() => this.#inFlight.delete(work));
  }

  /** Resigns: revokes the lease so the next replica leads now. Bounded: with etcd unreachable the lease expires instead. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#retry);
    clearInterval(this.#readTimer);
    this.#set(false);
    const candidacy = this.#candidacy;
    this.#candidacy = undefined;
    if (candidacy) this.#track(revoke(candidacy.lease));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.#inFlight]),
      new Promise((resolve) => (timer = setTimeout(resolve, RESIGN_TIMEOUT_MS))),
    ]);
    clearTimeout(timer);
  }
}

/** Stops the keep-alive at once (revoke() tears it down before its request) and deletes the lease's key if etcd answers. */
async function revoke(lease: Lease): Promise<void> {
  try {
    await lease.revoke({ deadline: Date.now() + RESIGN_TIMEOUT_MS });
  } catch {
    // Unreachable etcd: the key expires with the lease's TTL.
  }
}
