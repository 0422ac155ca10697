/**
 * Leader election on etcd (docs/ha.md), with etcd3's Election: each replica
 * campaigns with its id; the candidate whose key is oldest leads. A campaign
 * holds its own lease, so a killed leader is replaced once that lease
 * expires (`ttlSeconds`), and a closed one resigns at once. A campaign that
 * fails (its lease lost while etcd was away) steps down and campaigns again.
 *
 * Who leads is read with a sorted range query every second rather than with
 * etcd3's ElectionObserver: when two candidates' keys arrive in one watch
 * batch, the observer (etcd3 1.1.2) names the newer one.
 */
import type { Campaign, Election } from "etcd3";
import { Listeners } from "../../common/emitter.js";
import type { Logger } from "../../common/logger.js";
import type { Leadership } from "./leadership.js";

const ELECTION_NAME = "leader";
const RETRY_MS = 1_000;
const RESIGN_TIMEOUT_MS = 2_000;
const LEADER_REFRESH_MS = 1_000;

export interface ElectionSource {
  election(name: string, ttlSeconds: number): Election;
}

export class EtcdLeadership implements Leadership {
  readonly replicaId: string;
  readonly #election: Election;
  readonly #log: Logger;
  readonly #listeners = new Listeners<boolean>();
  #campaign: Campaign | undefined;
  #refresh: NodeJS.Timeout | undefined;
  #leader = false;
  #leaderId: string | undefined;
  #closed = false;
  #retry: NodeJS.Timeout | undefined;

  private constructor(source: ElectionSource, replicaId: string, ttlSeconds: number, logger: Logger) {
    this.replicaId = replicaId;
    this.#election = source.election(ELECTION_NAME, ttlSeconds);
    this.#log = logger.child({ component: "leadership" });
  }

  /** Starts campaigning; resolves once the current leader (if any) is known, not once elected. */
  static async start(options: { source: ElectionSource; replicaId: string; ttlSeconds: number; logger: Logger }): Promise<EtcdLeadership> {
    const leadership = new EtcdLeadership(options.source, options.replicaId, options.ttlSeconds, options.logger);
    await leadership.#readLeader();
    leadership.#refresh = setInterval(() => void leadership.#readLeader(), LEADER_REFRESH_MS);
    leadership.#refresh.unref();
    leadership.#campaignNow();
    return leadership;
  }

  async #readLeader(): Promise<void> {
    try {
      const id = await this.#election.leader();
      if (id !== this.#leaderId && !this.#closed) this.#log.info({ leaderId: id }, "leader changed");
      this.#leaderId = id;
    } catch (err) {
      this.#log.debug({ err }, "cannot read the current leader; keeping the last known one");
    }
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
    const campaign = this.#election.campaign(this.replicaId);
    this.#campaign = campaign;
    campaign.on("elected", () => {
      if (campaign !== this.#campaign) return;
      this.#log.info({ replicaId: this.replicaId }, "elected leader");
      this.#set(true);
    });
    campaign.on("error", (err: Error) => {
      if (campaign !== this.#campaign || this.#closed) return;
      this.#log.warn({ err, code: "MESHFED_ELECTION_LOST" }, "campaign failed; stepping down and campaigning again");
      this.#set(false);
      this.#campaign = undefined;
      void campaign.resign().catch(() => undefined);
      this.#retry = setTimeout(() => this.#campaignNow(), RETRY_MS);
      this.#retry.unref();
    });
  }

  #set(leader: boolean): void {
    if (this.#leader === leader) return;
    this.#leader = leader;
    this.#listeners.emit(leader);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#retry);
    clearInterval(this.#refresh);
    this.#set(false);
    const campaign = this.#campaign;
    this.#campaign = undefined;
    // Bounded: with etcd unreachable the lease simply expires instead.
    await Promise.race([
      (campaign?.resign() ?? Promise.resolve()).catch(() => undefined),
      new Promise((resolve) => setTimeout(resolve, RESIGN_TIMEOUT_MS).unref()),
    ]);
  }
}
