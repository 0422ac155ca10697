// Leader-only work (docs/ha.md) runs while this replica leads, and only then.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Listeners } from "../../src/common/emitter.js";
import { silentLogger } from "../../src/common/logger.js";
import { runWhileLeader } from "../../src/controller/ha/leader-tasks.js";
import type { Leadership } from "../../src/controller/ha/leadership.js";

class SettableLeadership implements Leadership {
  readonly replicaId = "r1";
  leader = false;
  readonly #listeners = new Listeners<boolean>();
  isLeader(): boolean {
    return this.leader;
  }
  leaderId(): string | undefined {
    return this.leader ? this.replicaId : undefined;
  }
  on(_event: "change", fn: (leader: boolean) => void): () => void {
    return this.#listeners.add(fn);
  }
  set(leader: boolean): void {
    this.leader = leader;
    this.#listeners.emit(leader);
  }
  async close(): Promise<void> {}
}

test("a leader task runs on election and on its interval, never while following, never after stop", async (t) => {
  const leadership = new SettableLeadership();
  const stop = new AbortController();
  t.after(() => stop.abort());
  let runs = 0;
  runWhileLeader(leadership, { name: "count", intervalMs: 20, run: async () => void runs++ }, silentLogger(), stop.signal);
  await new Promise((r) => setTimeout(r, 80));
  assert.equal(runs, 0, "a follower does nothing");
  leadership.set(true);
  assert.equal(runs, 1, "runs at once on election");
  for (let waited = 0; runs < 2 && waited < 5_000; waited += 20) await new Promise((r) => setTimeout(r, 20));
  assert.ok(runs >= 2, "runs on its interval");
  leadership.set(false);
  const asFollower = runs;
  await new Promise((r) => setTimeout(r, 80));
  assert.equal(runs, asFollower, "stops when leadership is lost");
  leadership.set(true);
  stop.abort();
  const atStop = runs;
  await new Promise((r) => setTimeout(r, 80));
  assert.equal(runs, atStop, "nothing after stop");
});
