// The fake API server's server-side apply (test/fakes/server-side-apply.ts)
// behaves as the install's tests assume a real server does: applied fields
// replace, fields the manager stops sending go unless someone else owns them,
// maps merge, conflicts name the other manager, force takes fields over, and
// an apply that changes nothing is reported as such.
import { test } from "node:test";
import assert from "node:assert/strict";
import { recordUpdate, serverSideApply, type FieldManager } from "../fakes/server-side-apply.js";

const meta = { name: "x", namespace: "ns" };

function ok(r: ReturnType<typeof serverSideApply>): { object: Record<string, unknown>; managers: FieldManager[]; changed: boolean } {
  assert.ok(r.ok, r.ok ? "" : JSON.stringify(r.conflicts));
  return r;
}

test("create, then re-apply: the same config is a no-op; a field no longer sent is removed; maps merge with others' keys", () => {
  const first = { apiVersion: "v1", kind: "ConfigMap", metadata: { ...meta, labels: { a: "1" } }, data: { k1: "v1", k2: "v2" } };
  const created = ok(serverSideApply(undefined, first, [], "meshfed", false));
  assert.equal(created.changed, true);
  assert.deepEqual(created.object, first);

  const same = ok(serverSideApply(created.object, first, created.managers, "meshfed", false));
  assert.equal(same.changed, false);

  // Someone else adds a label and a data key (an Update).
  const edited = { ...created.object, metadata: { ...meta, labels: { a: "1", team: "t" } }, data: { k1: "v1", k2: "v2", theirs: "x" } };
  const managers = recordUpdate(created.object, edited, created.managers, "kubectl");
  assert.deepEqual(managers.find((m) => m.name === "kubectl")?.fields, new Set(['["metadata","labels","team"]', '["data","theirs"]']));

  // The install stops sending k2 and label a: they go; the other manager's fields stay.
  const next = { apiVersion: "v1", kind: "ConfigMap", metadata: { ...meta, labels: {} }, data: { k1: "v1b" } };
  const applied = ok(serverSideApply(edited, next, managers, "meshfed", false));
  assert.deepEqual(applied.object.data, { k1: "v1b", theirs: "x" });
  assert.deepEqual((applied.object.metadata as { labels: unknown }).labels, { team: "t" });
});

test("a different value in a field another manager owns is a conflict naming it; the same value is not; force takes it over", () => {
  const d = { apiVersion: "apps/v1", kind: "Deployment", metadata: meta, spec: { replicas: 2, paused: false } };
  const created = ok(serverSideApply(undefined, d, [], "meshfed", false));
  const scaled = { ...created.object, spec: { replicas: 5, paused: false } };
  const managers = recordUpdate(created.object, scaled, created.managers, "kubectl-scale");

  const conflict = serverSideApply(scaled, d, managers, "meshfed", false);
  assert.equal(conflict.ok, false);
  assert.deepEqual(conflict.ok ? [] : conflict.conflicts, [{ manager: "kubectl-scale", field: ".spec.replicas" }]);

  const agreeing = ok(serverSideApply(scaled, { ...d, spec: { replicas: 5, paused: false } }, managers, "meshfed", false));
  assert.equal((agreeing.object.spec as { replicas: number }).replicas, 5);

  const forced = ok(serverSideApply(scaled, d, managers, "meshfed", true));
  assert.equal((forced.object.spec as { replicas: number }).replicas, 2);
  assert.equal(forced.managers.find((m) => m.name === "kubectl-scale"), undefined, "the field was its only one");
});

test("status is never applied and survives an apply; lists are replaced whole (atomic, unlike a real server's associative lists)", () => {
  const d = { apiVersion: "apps/v1", kind: "Deployment", metadata: meta, spec: { ports: [{ name: "a" }, { name: "b" }] } };
  const created = ok(serverSideApply(undefined, d, [], "meshfed", false));
  const withStatus = { ...created.object, status: { availableReplicas: 2 } };
  const next = ok(serverSideApply(withStatus, { ...d, spec: { ports: [{ name: "a" }] }, status: { availableReplicas: 0 } }, created.managers, "meshfed", false));
  assert.deepEqual(next.object.status, { availableReplicas: 2 });
  assert.deepEqual((next.object.spec as { ports: unknown }).ports, [{ name: "a" }]);
});
