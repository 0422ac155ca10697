import { test } from "node:test";
import assert from "node:assert/strict";
import { API_VERSIONS } from "../fakes/arm/server.js";
import { armHarness, TAGS } from "../fakes/arm/harness.js";

const SUB = "11111111-2222-3333-4444-555555555555";
const vmId = (rg: string, name: string): string => `/subscriptions/${SUB}/resourceGroups/${rg}/providers/Microsoft.Compute/virtualMachines/${name}`;

test("running tagged VMs become endpoints with the resource id as provenance; stopped and untagged ones do not", async (t) => {
  const h = await armHarness(t);
  const inv = h.arm.inventory;
  inv.addVm({ resourceGroup: "rg-shop", name: "books-1", power: "running", ip: "10.0.0.4", tags: TAGS("bookstore", "14001,14002", "shop") });
  inv.addVm({ resourceGroup: "rg-shop", name: "books-2", power: "running", ip: "10.0.0.5", tags: TAGS("bookstore", "14001", "shop") });
  inv.addVm({ resourceGroup: "rg-shop", name: "books-3", power: "stopped", ip: "10.0.0.6", tags: TAGS("bookstore", "14001", "shop") });
  inv.addVm({ resourceGroup: "rg-shop", name: "books-4", power: "deallocated", tags: TAGS("bookstore", "14001", "shop") });
  inv.addVm({ resourceGroup: "rg-shop", name: "jumpbox", power: "running", ip: "10.0.0.9", tags: { env: "prod" } });
  inv.addVm({ resourceGroup: "rg-shop", name: "db", power: "running", ip: "10.0.0.7", tags: TAGS("bookwarehouse", "5432") });
  const p = h.provider({ resourceGroups: ["rg-shop"] });
  await p.start(h.ac.signal);

  assert.deepEqual([...p.services()].map((s) => `${s.service.namespace}/${s.service.name}`), ["default/bookwarehouse", "shop/bookstore"]);
  assert.deepEqual(p.endpoints("shop/bookstore"), [
    { ip: "10.0.0.4", port: 14001, source: vmId("rg-shop", "books-1") },
    { ip: "10.0.0.4", port: 14002, source: vmId("rg-shop", "books-1") },
    { ip: "10.0.0.5", port: 14001, source: vmId("rg-shop", "books-2") },
  ]);
  assert.deepEqual(p.endpoints("default/bookwarehouse"), [{ ip: "10.0.0.7", port: 5432, source: vmId("rg-shop", "db") }]);
  const st = p.status();
  assert.equal(st.state, "synced");
  assert.equal(st.lastError, null);
  assert.equal(st.counts.endpoints, 4);
  assert.equal(st.counts.instances, 3);

  // Power state is read only for mapped VMs: the untagged jumpbox costs no instanceView call.
  const views = h.arm.armRequests().filter((r) => r.path.endsWith("/instanceView")).map((r) => r.path.split("/").at(-2));
  assert.deepEqual(views.sort(), ["books-1", "books-2", "books-3", "books-4", "db"]);
  // Every ARM call carries the api-version the pinned SDK speaks, and the token was asked for the configured endpoint.
  for (const r of h.arm.armRequests()) assert.ok(Object.values(API_VERSIONS).includes(r.query.get("api-version") as never), r.path);
  assert.ok(h.arm.tokenRequests.every((r) => r.scope === `${h.arm.url}/.default`), JSON.stringify(h.arm.tokenRequests));
});

test("lists are followed through nextLink across pages", async (t) => {
  const h = await armHarness(t);
  h.arm.pageSize = 2;
  for (let i = 1; i <= 7; i++) h.arm.inventory.addVm({ resourceGroup: "rg-big", name: `vm-${i}`, power: "running", ip: `10.1.0.${i}`, tags: TAGS("big", "80") });
  const p = h.provider({ resourceGroups: ["rg-big"] });
  await p.start(h.ac.signal);
  assert.equal(p.endpoints("default/big")?.length, 7);
  const vmPages = h.arm.armRequests().filter((r) => r.path.endsWith("/virtualMachines"));
  assert.deepEqual(vmPages.map((r) => r.query.get("$skiptoken")), [null, "2", "4", "6"]);
  assert.equal(h.arm.armRequests().filter((r) => r.path.endsWith("/networkInterfaces")).length, 4);
});

test("a NIC in another resource group is read by id; a NIC without an address is reported, not guessed", async (t) => {
  const h = await armHarness(t);
  h.arm.inventory.addResourceGroup("rg-net");
  h.arm.inventory.addVm({ resourceGroup: "rg-app", name: "app-1", power: "running", ip: "10.2.0.4", nicResourceGroup: "rg-net", tags: TAGS("app", "8080") });
  h.arm.inventory.addVm({ resourceGroup: "rg-app", name: "app-2", power: "running", tags: TAGS("app", "8080") });
  const p = h.provider({ resourceGroups: ["rg-app"] });
  await p.start(h.ac.signal);
  assert.deepEqual(p.endpoints("default/app"), [{ ip: "10.2.0.4", port: 8080, source: vmId("rg-app", "app-1") }]);
  assert.ok(h.arm.armRequests().some((r) => r.path.endsWith("/resourceGroups/rg-net/providers/Microsoft.Network/networkInterfaces/app-1-nic")));
  const st = p.status();
  assert.equal(st.counts.noAddress, 1);
  assert.deepEqual(st.problems.map((x) => [x.code, x.name]), [["MESHFED_AZURE_NO_ADDRESS", "app-2"]]);
});

test("change events name only the services whose endpoints changed", async (t) => {
  const h = await armHarness(t);
  const inv = h.arm.inventory;
  inv.addVm({ resourceGroup: "rg", name: "a-1", power: "running", ip: "10.0.0.1", tags: TAGS("a", "80") });
  const b = inv.addVm({ resourceGroup: "rg", name: "b-1", power: "running", ip: "10.0.0.2", tags: TAGS("b", "80") });
  const p = h.provider({ resourceGroups: ["rg"] });
  const events: string[][] = [];
  p.on("change", (keys) => events.push([...keys]));
  await p.start(h.ac.signal);
  assert.deepEqual(events, [["default/a", "default/b"]]);

  await p.syncNow();
  assert.equal(events.length, 1, "an unchanged inventory emits nothing");

  b.tags = TAGS("b", "80,81");
  inv.addVm({ resourceGroup: "rg", name: "c-1", power: "running", ip: "10.0.0.3", tags: TAGS("c", "90") });
  await p.syncNow();
  assert.deepEqual(events[1], ["default/b", "default/c"]);
});

test("resourceGroups empty reads the whole subscription with the subscription-wide lists", async (t) => {
  const h = await armHarness(t);
  h.arm.inventory.addVm({ resourceGroup: "rg-1", name: "x", power: "running", ip: "10.0.0.1", tags: TAGS("x", "80") });
  h.arm.inventory.addVm({ resourceGroup: "rg-2", name: "y", power: "running", ip: "10.0.0.2", tags: TAGS("x", "80") });
  const p = h.provider();
  await p.start(h.ac.signal);
  assert.deepEqual(p.endpoints("default/x")?.map((e) => e.source), [vmId("rg-1", "x"), vmId("rg-2", "y")]);
  assert.deepEqual(p.status().scopes.map((s) => s.name), ["*"]);
  assert.ok(h.arm.armRequests().some((r) => r.path === `/subscriptions/${SUB}/providers/Microsoft.Compute/virtualMachines`));
  assert.ok(h.arm.armRequests().some((r) => r.path === `/subscriptions/${SUB}/providers/Microsoft.Network/networkInterfaces`));
});
