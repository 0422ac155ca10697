/**
 * Who does leader-only work (docs/ha.md): Azure polling, CA rotation, join
 * token garbage collection. With the file store this process is the only
 * one, hence always the leader; with etcd the replicas elect one
 * (etcd-leadership.ts). Every replica serves agents either way.
 */
import { Listeners } from "../../common/emitter.js";

export interface Leadership {
  readonly replicaId: string;
  isLeader(): boolean;
  /** The elected replica's id, when known. */
  leaderId(): string | undefined;
  /** Called on every change of `isLeader()`. */
  on(event: "change", fn: (leader: boolean) => void): () => void;
  /** Gives leadership up (so another replica takes over at once, not after the lease) and stops. */
  close(): Promise<void>;
}

export class SoleLeader implements Leadership {
  readonly replicaId: string;
  readonly #listeners = new Listeners<boolean>();

  constructor(replicaId: string) {
    this.replicaId = replicaId;
  }

  isLeader(): boolean {
    return true;
  }

  leaderId(): string {
    return this.replicaId;
  }

  on(_event: "change", fn: (leader: boolean) => void): () => void {
    return this.#listeners.add(fn);
  }

  async close(): Promise<void> {}
}
