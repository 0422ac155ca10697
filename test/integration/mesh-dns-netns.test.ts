/**
 * The resolver hook and the agent's DNS on a real resolver: inside a network
 * namespace whose /etc/resolv.conf is /etc/netns/<ns>/resolv.conf (what
 * `ip netns exec` bind-mounts), glibc's `getent hosts` and Node's
 * `dns.lookup` resolve mesh names through the agent's DNS and other names
 * through the original resolver; stop (and kill -9 then start and stop)
 * restores the file byte for byte. Needs root and iproute2; skipped without.
 */
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { cleanupStack } from "../helpers/cleanup.js";
import { scaled } from "../helpers/wait.js";

const WORKER = fileURLToPath(new URL("../helpers/mesh-dns-worker.js", import.meta.url));
const ORIGINAL = "# the namespace's own resolver\nnameserver 127.0.0.2\nsearch example.test\noptions timeout:1 attempts:2\n";
const TABLE = {
  hash: "c".repeat(64),
  zones: ["svc.cluster.local", "svc"],
  records: [
    { name: "bookstore.default.svc", ipv4: ["240.0.0.10"] },
    { name: "bookstore.default.svc.cluster.local", ipv4: ["240.0.0.10"] },
  ],
};

function available(t: TestContext): boolean {
  const missing = process.getuid?.() !== 0 ? "root" : spawnSync("ip", ["netns", "list"]).status !== 0 ? "ip netns" : spawnSync("getent", ["--help"]).error ? "getent" : undefined;
  if (missing === undefined) return true;
  if (process.env.CI === "true") assert.fail(`the netns DNS test needs ${missing}`);
  t.skip(`needs ${missing}`);
  return false;
}

function run(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(args[0]!, args.slice(1), { encoding: "utf8", timeout: 20_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test("getent and dns.lookup in a network namespace resolve mesh names through the agent's DNS; the resolver comes back byte for byte, after kill -9 too", { timeout: scaled(240_000) }, async (t) => {
  if (!available(t)) return;
  const ns = `mfdns-${randomBytes(4).toString("hex")}`;
  const etc = join("/etc/netns", ns);
  const dir = await mkdtemp(join(tmpdir(), "mfdns-netns-"));
  const defer = cleanupStack(t);
  defer(() => rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 }));
  // /etc/netns itself stays: other namespace tests may be using it at the same time.
  defer(() => rm(etc, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 }));
  assert.equal(run(["ip", "netns", "add", ns]).status, 0);
  defer(() => run(["ip", "netns", "del", ns]));
  assert.equal(run(["ip", "-n", ns, "link", "set", "lo", "up"]).status, 0);
  await mkdir(etc, { recursive: true });
  const resolvConf = join(etc, "resolv.conf");
  await writeFile(resolvConf, ORIGINAL);
  const env = { ...process.env, MFDNS_RESOLV: resolvConf, MFDNS_BACKUP: join(dir, "resolv.conf.meshfed-backup"), MFDNS_TABLE: JSON.stringify(TABLE) };

  const workers: ChildProcess[] = [];
  defer(() => { for (const w of workers) w.kill("SIGKILL"); });
  const startWorker = async (): Promise<ChildProcess> => {
    const child = spawn("ip", ["netns", "exec", ns, process.execPath, WORKER], { env, stdio: ["ignore", "pipe", "pipe"] });
    workers.push(child);
    let out = "";
    let err = "";
    child.stderr.setEncoding("utf8").on("data", (d: string) => (err += d));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`worker not ready\n${err}`)), 20_000);
      child.stdout.setEncoding("utf8").on("data", (d: string) => {
        out += d;
        if (out.includes("READY")) { clearTimeout(timer); resolve(); }
      });
      child.on("exit", (code) => { clearTimeout(timer); reject(new Error(`worker exited ${String(code)}\n${err}`)); });
    });
    assert.match(out, /READY \["127\.0\.0\.2:53"\]/, "the forwarder's upstream is the original resolver, read from the backup");
    return child;
  };
  const inNs = (...args: string[]) => run(["ip", "netns", "exec", ns, ...args]);
  const stop = async (child: ChildProcess, signal: NodeJS.Signals) => {
    const exited = once(child, "exit");
    child.kill(signal);
    await exited;
  };

  const worker = await startWorker();
  assert.match(await readFile(resolvConf, "utf8"), /^nameserver 127\.0\.0\.153$/m);
  const mesh = inNs("getent", "hosts", "bookstore.default.svc.cluster.local");
  assert.equal(mesh.status, 0, mesh.stderr);
  assert.match(mesh.stdout, /^240\.0\.0\.10\s+bookstore\.default\.svc\.cluster\.local/);
  assert.match(inNs("getent", "hosts", "BookStore.Default.SVC").stdout, /^240\.0\.0\.10\s/);
  // Absolute (trailing dot): without it glibc would go on to nosuch...cluster.local.example.test, a name the upstream owns.
  assert.notEqual(inNs("getent", "hosts", "nosuch.default.svc.cluster.local.").status, 0, "an unknown mesh name does not resolve");
  const outside = inNs("getent", "hosts", "www.example.test");
  assert.match(outside.stdout, /^192\.0\.2\.7\s/, `forwarded to the original resolver: ${outside.stderr}`);
  assert.match(inNs("getent", "hosts", "www").stdout, /^192\.0\.2\.7\s+www\.example\.test/, "the original search domain is kept");
  const lookup = inNs(process.execPath, "-e", "require('node:dns').lookup('bookstore.default.svc.cluster.local', (e, a) => { console.log(e ? e.code : a); })");
  assert.equal(lookup.stdout.trim(), "240.0.0.10", lookup.stderr);

  await stop(worker, "SIGTERM");
  assert.equal(await readFile(resolvConf, "utf8"), ORIGINAL, "restored byte for byte on stop");

  // kill -9: our file stays; the next start keeps the original backup, its stop restores it.
  const killed = await startWorker();
  await stop(killed, "SIGKILL");
  assert.match(await readFile(resolvConf, "utf8"), /^nameserver 127\.0\.0\.153$/m);
  const restarted = await startWorker();
  assert.match(inNs("getent", "hosts", "bookstore.default.svc").stdout, /^240\.0\.0\.10\s/);
  await stop(restarted, "SIGTERM");
  assert.equal(await readFile(resolvConf, "utf8"), ORIGINAL, "restored byte for byte after kill -9 and a restart");
});
