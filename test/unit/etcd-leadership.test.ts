/**
 * EtcdLeadership (src/controller/ha/etcd-leadership.ts) on a hand-written
 * election namespace: the oldest key leads, a closed leader's revoke lets the
 * next one lead, and a read that was under way while our key was being
 * written is not taken for "our key is gone". The same election on a real
 * etcd: test/integration/ha-etcd-*.test.ts.
 */
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { test } from "node:test";
import type { Namespace } from "etcd3";
import { silentLogger } from "../../src/common/logger.js";
import { EtcdLeadership } from "../../src/controller/ha/etcd-leadership.js";
import { waitFor } from "../helpers/wait.js";

interface Kv {
  readonly key: Buffer;
  readonly value: Buffer;
}

/** The few etcd3 Namespace calls the election makes, on one in-memory keyspace. */
class FakeElection {
  readonly keys = new Map<string, { value: string; lease: string; created: number }>();
  leasesGranted = 0;
  #revision = 0;
  #nextLease = 100;
  /** When set, grants wait for it. */
  grantGate: Promise<void> | undefined;
  /** When set, each read takes its answer at once but hands it back only when this resolves. */
  readGate: Promise<void> | undefined;
  reads = 0;

  namespace(): Namespace {
    const lease = () => {
      const emitter = new EventEmitter();
      const id = String(this.#nextLease++);
      this.leasesGranted++;
      return Object.assign(emitter, {
        grant: async () => {
          await this.grantGate;
          return id;
        },
        revoke: async () => {
          for (const [k, v] of this.keys) if (v.lease === id) this.keys.delete(k);
        },
      });
    };
    const put = (key: string) => ({ value: (value: string) => ({ lease: (id: string) => ({ key, value, id }) }) });
    const txn = (key: string) => ({
      then: (op: { key: string; value: string; id: string }) => ({
        commit: async () => {
          if (!this.keys.has(key)) this.keys.set(op.key, { value: op.value, lease: op.id, created: ++this.#revision });
          return { succeeded: true };
        },
      }),
    });
    const getAll = () => ({
      sort: () => ({
        exec: async () => {
          this.reads++;
          const kvs: Kv[] = [...this.keys].sort(([, a], [, b]) => a.created - b.created).map(([key, v]) => ({ key: Buffer.from(key), value: Buffer.from(v.value) }));
          await this.readGate;
          return { kvs };
        },
      }),
    });
    return { lease, put, if: txn, getAll } as unknown as Namespace;
  }
}

function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

async function start(fake: FakeElection, replicaId: string): Promise<EtcdLeadership> {
  return EtcdLeadership.start({ source: { electionKeys: () => fake.namespace() }, replicaId, ttlSeconds: 2, logger: silentLogger() });
}

test("the oldest key leads; a closed leader's revoke lets the next candidate lead at its next read", async (t) => {
  const fake = new FakeElection();
  const a = await start(fake, "a");
  t.after(() => a.close());
  await waitFor(() => a.isLeader(), { what: "a leads", timeoutMs: 5_000 });
  const b = await start(fake, "b");
  t.after(() => b.close());
  await waitFor(() => fake.keys.size === 2, { what: "b's key written", timeoutMs: 5_000 });
  await waitFor(() => b.leaderId() === "a", { what: "b sees a lead", timeoutMs: 5_000 });
  assert.equal(b.isLeader(), false);
  const changes: boolean[] = [];
  b.on("change", (leader) => changes.push(leader));
  await a.close();
  assert.equal(a.isLeader(), false);
  assert.equal(fake.keys.size, 1, "a's close revoked its lease and so deleted its key");
  await waitFor(() => b.isLeader(), { what: "b leads after a's close", timeoutMs: 5_000 });
  assert.deepEqual(changes, [true]);
});

test("a read under way while our key was written does not count as 'our key is gone'", async (t) => {
  const fake = new FakeElection();
  const grant = gate();
  fake.grantGate = grant.promise;
  const a = await start(fake, "a");
  t.after(() => a.close());
  // The next read (the once-a-second one) answers from before our key exists, and is held.
  const read = gate();
  fake.readGate = read.promise;
  const before = fake.reads;
  await waitFor(() => fake.reads > before, { what: "a read under way", timeoutMs: 5_000 });
  grant.open();
  await waitFor(() => fake.keys.size === 1, { what: "a's key written", timeoutMs: 5_000 });
  fake.readGate = undefined;
  read.open();
  await waitFor(() => a.isLeader(), { what: "a leads", timeoutMs: 5_000 });
  assert.equal(fake.leasesGranted, 1, "no second campaign: the stale read did not step a down");
});
