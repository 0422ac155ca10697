// The leader-only polling wrapper (docs/ha.md) with a hand-written provider
// and leadership, on a file store (its watch sees this process's writes).
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { Listeners } from "../../src/common/emitter.js";
import { silentLogger } from "../../src/common/logger.js";
import type { ServiceKey } from "../../src/common/service.js";
import { LeaderPolledProvider } from "../../src/controller/ha/leader-polled-provider.js";
import type { Leadership } from "../../src/controller/ha/leadership.js";
import { PublishedView } from "../../src/controller/ha/published-view.js";
import type { ProviderEndpoint, ProviderStatus, ServiceEndpoints, SharedViewProvider } from "../../src/controller/providers/types.js";
import type { StateStore } from "../../src/controller/store/types.js";
import { tempFileStore } from "../helpers/certificates.js";
import { waitFor } from "../helpers/wait.js";

const web = (ip: string): ServiceEndpoints[] => [{ service: { namespace: "shop", name: "web" }, endpoints: [{ ip, port: 80, source: `vm-${ip}` }] }];

class FakePlatform implements SharedViewProvider {
  readonly id = "azure";
  /** What a poll of the platform would find. */
  platform: ServiceEndpoints[] = web("10.0.0.1");
  polling = true;
  polls = 0;
  #view: ServiceEndpoints[] = [];
  readonly #listeners = new Listeners<readonly ServiceKey[]>();
  async start(): Promise<void> {
    if (this.polling) this.#poll();
  }
  pausePolling(): void {
    this.polling = false;
  }
  async resumePolling(): Promise<void> {
    this.polling = true;
    this.#poll();
  }
  adopt(services: readonly ServiceEndpoints[]): void {
    assert.equal(this.polling, false, "adopt while paused only");
    this.#set([...services]);
  }
  /** A poll that found something new (what the timer would do). */
  pollNow(): void {
    if (this.polling) this.#poll();
  }
  #poll(): void {
    this.polls++;
    this.#set(this.platform);
  }
  #set(view: ServiceEndpoints[]): void {
    this.#view = view;
    this.#listeners.emit(["shop/web"]);
  }
  services(): Iterable<ServiceEndpoints> {
    return this.#view;
  }
  endpoints(key: ServiceKey): readonly ProviderEndpoint[] | undefined {
    return this.#view.find((s) => `${s.service.namespace}/${s.service.name}` === key)?.endpoints;
  }
  on(_event: "change", fn: (changed: readonly ServiceKey[]) => void): () => void {
    return this.#listeners.add(fn);
  }
  status(): ProviderStatus {
    return { id: this.id, kind: "endpoints", state: "synced", lastSync: null, lastError: null, counts: {} };
  }
}

class ManualLeadership implements Leadership {
  readonly #listeners = new Listeners<boolean>();
  #leader: boolean;
  constructor(readonly replicaId: string, leader: boolean) {
    this.#leader = leader;
  }
  isLeader(): boolean {
    return this.#leader;
  }
  leaderId(): string | undefined {
    return this.#leader ? this.replicaId : undefined;
  }
  set(leader: boolean): void {
    this.#leader = leader;
    this.#listeners.emit(leader);
  }
  on(_event: "change", fn: (leader: boolean) => void): () => void {
    return this.#listeners.add(fn);
  }
  async close(): Promise<void> {}
}

function wrap(t: TestContext, store: StateStore, replicaId: string, leader: boolean, awaitViewMs = 5_000, maxBytes?: number) {
  const inner = new FakePlatform();
  const leadership = new ManualLeadership(replicaId, leader);
  const view = new PublishedView({ store, provider: "azure", replicaId, ...(maxBytes === undefined ? {} : { maxBytes }) });
  const provider = new LeaderPolledProvider({ inner, leadership, view, awaitViewMs, logger: silentLogger() });
  const ac = new AbortController();
  t.after(() => ac.abort());
  return { inner, leadership, provider, start: () => provider.start(ac.signal) };
}

const ips = (p: LeaderPolledProvider) => [...p.services()].flatMap((s) => s.endpoints.map((e) => e.ip));

test("the leader polls and publishes; a follower never polls, serves each publication, and keeps the last one while nobody leads", async (t) => {
  const { store } = await tempFileStore(t);
  const a = wrap(t, store, "a", true);
  await a.start();
  assert.equal(a.provider.status().sharedView.role, "leading");
  const b = wrap(t, store, "b", false);
  await b.start();
  assert.deepEqual(ips(b.provider), ["10.0.0.1"]);
  assert.deepEqual([b.inner.polls, b.provider.status().sharedView.role, b.provider.status().sharedView.served?.replicaId], [0, "following", "a"]);

  a.inner.platform = web("10.0.0.2");
  a.inner.pollNow();
  await waitFor(() => (ips(b.provider).join() === "10.0.0.2" ? true : undefined), { what: "the new poll on B", timeoutMs: 2_000 });
  a.leadership.set(false);
  await waitFor(() => (a.provider.status().sharedView.role === "following" ? true : undefined), { what: "A steps down", timeoutMs: 2_000 });
  assert.equal(a.inner.polling, false);
  assert.deepEqual(ips(b.provider), ["10.0.0.2"], "no leader: the last view stays");

  b.inner.platform = web("10.0.0.3");
  b.leadership.set(true);
  await waitFor(() => (ips(a.provider).join() === "10.0.0.3" ? true : undefined), { what: "B's poll on A", timeoutMs: 2_000 });
  assert.deepEqual([b.inner.polls, a.provider.status().sharedView.served?.replicaId], [1, "b"]);
});

test("with nothing published in time a replica polls for itself, and goes back to following when a view arrives", async (t) => {
  const { store } = await tempFileStore(t);
  const b = wrap(t, store, "b", false, 50);
  await b.start();
  assert.deepEqual([b.provider.status().sharedView.role, b.inner.polling, b.inner.polls], ["fallback", true, 1]);
  const a = wrap(t, store, "a", true);
  a.inner.platform = web("10.0.0.9");
  await a.start();
  await waitFor(() => (b.provider.status().sharedView.role === "following" ? true : undefined), { what: "B follows A", timeoutMs: 2_000 });
  assert.equal(b.inner.polling, false);
  assert.deepEqual(ips(b.provider), ["10.0.0.9"]);
});

test("a view too large to publish leaves the leader serving its own and the followers the last one published, the error in the status", async (t) => {
  const { store } = await tempFileStore(t);
  const a = wrap(t, store, "a", true, 5_000, 400);
  await a.start();
  const b = wrap(t, store, "b", false);
  await b.start();
  a.inner.platform = [{ service: { namespace: "shop", name: "web" }, endpoints: Array.from({ length: 20 }, (_, i) => ({ ip: `10.0.1.${i}`, port: 80, source: `vm-${i}` })) }];
  a.inner.pollNow();
  await waitFor(() => (a.provider.status().sharedView.lastError?.code === "MESHFED_VIEW_TOO_LARGE" ? true : undefined), { what: "the refusal in A's status", timeoutMs: 2_000 });
  assert.equal(ips(a.provider).length, 20, "the leader serves what it polled");
  assert.deepEqual(ips(b.provider), ["10.0.0.1"], "followers keep the last view published");
});
