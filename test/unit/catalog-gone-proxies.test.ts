// Issue 23 item 1 (b): an endpoint whose proxy is known to be gone (an agent
// announced it, then disconnected) is not offered to callers while another
// endpoint can take its traffic, and is offered as a last resort when none
// can. An endpoint no proxy ever announced (a plain hosts-file host) is never
// dropped. Rule: docs/pipy.md, "Endpoints whose proxy is gone".
import { test } from "node:test";
import assert from "node:assert/strict";
import { P1, P2, P3, offered, splitCatalog, v1, v2 } from "../helpers/split-catalog.js";

function setup() {
  return splitCatalog({
    "shop/bookstore-v1": ["10.0.0.2:14001"],
    "shop/bookstore-v2": ["10.0.0.3:14001"],
    // A host in the hosts file that no agent runs on.
    "shop/legacy": ["10.0.0.9:5432"],
  });
}


test("a disconnected agent's endpoint leaves the split while the other backend is live; it returns with its agent", (t) => {
  const { agents, view, changes, stop } = setup();
  t.after(stop);
  agents.announce(P1, v1, [{ ip: "10.0.0.2", port: 14001 }]);
  agents.announce(P2, v2, [{ ip: "10.0.0.3", port: 14001 }]);
  const before = offered(view());
  assert.deepEqual(before["shop/bookstore>bookstore-v1"], ["10.0.0.2:14001"]);
  assert.deepEqual(before["shop/bookstore>bookstore-v2"], ["10.0.0.3:14001"]);

  agents.withdraw(P2); // bookstore-v2's agent stops; the hosts file still lists its host
  const after = offered(view());
  assert.ok(changes.some((c) => c.includes("shop/bookstore-v2")), "the change names the service, so its callers re-render");
  assert.deepEqual(after["shop/bookstore>bookstore-v2"], [], "not offered through the split while v1 serves the port");
  assert.deepEqual(after["shop/bookstore>bookstore-v1"], ["10.0.0.2:14001"]);
  // Called by its own name, nothing else serves bookstore-v2: the last resort keeps it.
  assert.deepEqual(after["shop/bookstore-v2"], ["10.0.0.3:14001"]);
  // A hosts-file endpoint no agent ever announced stays, always.
  assert.deepEqual(after["shop/legacy"], ["10.0.0.9:5432"]);

  agents.announce(P2, v2, [{ ip: "10.0.0.3", port: 14001 }]);
  assert.deepEqual(offered(view())["shop/bookstore>bookstore-v2"], ["10.0.0.3:14001"], "back with its agent");
});

test("last resort per port: every backend's proxy gone keeps them all; a re-enrolled agent (new proxy id) revives the endpoint", (t) => {
  const { agents, view, stop } = setup();
  t.after(stop);
  agents.announce(P1, v1, [{ ip: "10.0.0.2", port: 14001 }]);
  agents.announce(P2, v2, [{ ip: "10.0.0.3", port: 14001 }]);
  view();
  agents.withdraw(P1);
  agents.withdraw(P2);
  const both = offered(view());
  assert.deepEqual([both["shop/bookstore>bookstore-v1"], both["shop/bookstore>bookstore-v2"]], [["10.0.0.2:14001"], ["10.0.0.3:14001"]], "nothing live on 14001: offered as they are");

  // The host of v2 re-enrolls under a new proxy id: its endpoint is live again, v1's is not.
  agents.announce(P3, v2, [{ ip: "10.0.0.3", port: 14001 }]);
  const revived = offered(view());
  assert.deepEqual(revived["shop/bookstore>bookstore-v1"], []);
  assert.deepEqual(revived["shop/bookstore>bookstore-v2"], ["10.0.0.3:14001"]);
  assert.deepEqual(agents.goneEndpoints("shop/bookstore-v2"), undefined, "the old proxy's record of v2 is dropped");
  assert.deepEqual(agents.goneEndpoints("shop/bookstore-v1"), [{ ip: "10.0.0.2", port: 14001 }]);
});

test("a plain host beside agent-fronted ones: kept; the gone agent's endpoint is left out while the plain host serves the port", (t) => {
  const { onprem, agents, view, stop } = setup();
  t.after(stop);
  onprem.set("shop/bookstore-v1", ["10.0.0.2:14001", "10.0.0.4:14001"]);
  agents.announce(P1, v1, [{ ip: "10.0.0.2", port: 14001 }]);
  view();
  agents.withdraw(P1);
  assert.deepEqual(offered(view())["shop/bookstore-v1"], ["10.0.0.4:14001"]);
  // An agent that moves between replicas (withdrawn from one origin, announced from another) never counts as gone.
  agents.announce(P2, v2, [{ ip: "10.0.0.3", port: 14001 }], "replica-a");
  agents.announce(P2, v2, [{ ip: "10.0.0.3", port: 14001 }]);
  agents.withdraw(P2, "replica-a");
  assert.equal(agents.goneEndpoints("shop/bookstore-v2"), undefined);
});
