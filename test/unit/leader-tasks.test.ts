// Leader-only work (docs/ha.md) runs while this replica leads, and only then.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Listeners } from "../../src/common/emitter.js";
import { silentLogger } from "../../src/common/logger.js";
import { runWhileLeader } from "../../src/controller/ha/leader-tasks.js";
import type { Leadership } from "../../src/controller/ha/leadership.js";
import { quietPeriod, waitFor } from "../helpers/wait.js";

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
  await quietPeriod(80, "a follower does not run the task");
  assert.equal(runs, 0, "a follower does nothing");
  leadership.set(true);
  assert.equal(runs, 1, "runs at once on election");
  await waitFor(() => runs >= 2, { what: "a second run on its interval" });
  leadership.set(false);
  const asFollower = runs;
  await quietPeriod(80, "no run after leadership was lost");
  assert.equal(runs, asFollower, "stops when leadership is lost");
  leadership.set(true);
  stop.abort();
  const atStop = runs;
  await quietPeriod(80, "no run after stop");
  assert.equal(runs, atStop, "nothing after stop");
});
