// `meshfed demo --transparent` as a user runs it: the real command, real
// agents and a real Pipy in two network namespaces. The bookbuyer loop must
// print requests to the mesh name served by bookstore-v1 with bookbuyer's
// verified identity, and the path no route allows refused; SIGINT must then
// leave nothing: the agents restore their hosts (the demo checks and prints
// it), the namespaces and every process in them are gone, and this
// machine's own nat table carries no meshfed chain it did not have before.
// Needs root, iproute2, iptables and PIPY_BIN; skipped (visibly) otherwise.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { rm, mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CLI } from "../helpers/controller-process.js";
import { netnsUnavailable, sh } from "../helpers/netns.js";
import { scaled, waitFor } from "../helpers/wait.js";

const PIPY_BIN = process.env.PIPY_BIN;
const SERVED = /^bookbuyer: GET http:\/\/bookstore\.bookstore\.svc\.cluster\.local:14001\/buy-a-book\/new -> 200 from bookstore-v1, which saw caller bookbuyer\.bookbuyer\.svc\.cluster\.local$/m;
const REFUSED = /^bookbuyer: GET http:\/\/bookstore\.bookstore\.svc\.cluster\.local:14001\/books -> 403 /m;

const namespaces = async (prefix: string) => (await sh(["ip", "netns", "list"])).split("\n").map((l) => l.split(" ")[0]!).filter((n) => n.startsWith(prefix));
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
const meshfedRootNat = async () => (await sh(["iptables-save", "-t", "nat"])).split("\n").filter((l) => l.includes("MESHFED")).join("\n");

test("meshfed demo --transparent: an unchanged app served over mTLS by its mesh name, policies applied, and Ctrl-C leaves nothing behind", { timeout: scaled(480_000) }, async (t) => {
  if (PIPY_BIN === undefined) return t.skip("PIPY_BIN not set: real Pipy tests skipped");
  const why = await netnsUnavailable();
  if (why !== undefined) return t.skip(why);

  const prefix = `mfdemo${randomBytes(2).toString("hex")}-`;
  const dir = await mkdtemp(join(tmpdir(), "mfdemo-test-"));
  const rootNatBefore = await meshfedRootNat();
  const child = spawn(process.execPath, [CLI, "demo", "--transparent", "--pipy", PIPY_BIN, "--netns-prefix", prefix,
    "--data-dir", join(dir, "controller"), "--admin-address", "127.0.0.1:0", "--grpc-address", "127.0.0.1:0"], { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
  child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  const exited = once(child, "exit") as Promise<[number | null, NodeJS.Signals | null]>;
  t.after(async () => {
    // Only after a failure is anything left: the demo's own stop is what the test checks.
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGKILL");
      await exited;
    }
    for (const n of await namespaces(prefix)) {
      for (const pid of (await sh(["ip", "netns", "pids", n]).catch(() => "")).split(/\s+/).filter((p) => /^\d+$/.test(p))) process.kill(Number(pid), "SIGKILL");
      await sh(["ip", "netns", "del", n]).catch(() => undefined);
    }
    await rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
  });
  const tail = () => `--- stdout\n${stdout.split("\n").slice(-20).join("\n")}\n--- stderr\n${stderr.split("\n").slice(-20).join("\n")}`;

  const startedAt = Date.now();
  await waitFor(() => (child.exitCode !== null ? assert.fail(`the demo exited ${child.exitCode}`) : SERVED.test(stdout) && REFUSED.test(stdout)), { what: "served and refused lines from the bookbuyer loop", timeoutMs: 150_000 })
    .catch((err: Error) => assert.fail(`${err.message}\n${tail()}`));
  t.diagnostic(`first served line ${Date.now() - startedAt} ms after the start`);
  assert.match(stdout, /^transparent demo ready: /m);
  assert.match(stdout, /^ {2}capture rules +ip netns exec mfdemo\S+ iptables-save -t nat/m, "it says where to look");
  const names = await namespaces(prefix);
  assert.equal(names.length, 2, `two hosts: ${names.join(", ")}`);
  const pids = (await Promise.all(names.map((n) => sh(["ip", "netns", "pids", n])))).join(" ").split(/\s+/).filter((p) => /^\d+$/.test(p)).map(Number);
  assert.ok(pids.length >= 6, `agents, Pipys, apps and relays run in the hosts: ${pids.join(" ")}`);
  // Every served line carries the verified identity: no plaintext path to bookstore's app was taken.
  const buys = stdout.split("\n").filter((l) => l.includes("/buy-a-book/new -> 200"));
  assert.ok(buys.every((l) => SERVED.test(l)), buys.join("\n"));

  const stopAt = Date.now();
  child.kill("SIGINT");
  const [code] = await exited;
  t.diagnostic(`SIGINT to exit: ${Date.now() - stopAt} ms`);
  assert.equal(code, 0, `SIGINT stops the demo cleanly\n${tail()}`);
  for (const n of names) assert.match(stdout, new RegExp(`^agents stopped: ${n} nat table is as before the agent$`, "m"), tail());
  assert.match(stdout, new RegExp(`^agents stopped: ${names.find((n) => n.endsWith("bookbuyer"))} /etc/resolv.conf is as before the agent$`, "m"));
  assert.doesNotMatch(stdout, /DIFFERS/, "every table the demo compares (nat, and ip6tables' filter where present) is restored");
  assert.match(stdout, /^demo stopped; namespaces .* deleted$/m);
  assert.deepEqual(await namespaces(prefix), [], "no namespace is left");
  assert.deepEqual(pids.filter(alive), [], "no process of the hosts is left");
  assert.equal(await meshfedRootNat(), rootNatBefore, "this machine's nat table is untouched");
});
