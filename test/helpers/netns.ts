// Network namespaces for data-plane tests (root only): "hosts" joined by a
// veth pair, commands run inside them, everything removed in t.after. Names
// carry a caller prefix plus a random suffix, so parallel sessions never
// share a namespace; nothing here touches the root namespace's iptables,
// routes or resolver.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { RELAY_INSIDE, unixRelayTo } from "../../src/cli/demo/relay.js";

const run = promisify(execFile);

/** Why data-plane namespace tests cannot run here, or undefined when they can. */
export async function netnsUnavailable(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return "not root: network namespace tests skipped";
  for (const bin of ["ip", "iptables", "setpriv"]) {
    try {
      await run("sh", ["-c", `command -v ${bin}`]);
    } catch {
      return `${bin} not found: network namespace tests skipped`;
    }
  }
  return undefined;
}

export async function sh(args: readonly string[]): Promise<string> {
  const [bin, ...rest] = args;
  try {
    return (await run(bin!, rest, { timeout: 30_000 })).stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${args.join(" ")}: ${e.stderr?.trim() || e.message}`, { cause: err });
  }
}

export interface NetnsHost {
  readonly name: string;
  /** Runs a command inside the namespace and returns its stdout. */
  exec(args: readonly string[]): Promise<string>;
  /** Spawns a long-running child inside the namespace (optionally as another uid); killed in t.after. */
  spawn(args: readonly string[], options?: { uid?: number }): ChildProcess;
}

/**
 * Two namespaces `<prefix><rand>a` and `...b`, a veth pair between them
 * (addresses 10.<x>.<y>.1/24 in a, .2/24 and any `extraB` in b), loopback
 * up, and a default route in a via b (so a VIP has a route to be captured on).
 */
/** What registers cleanup: a node:test TestContext, or the bench's undo list. */
export interface Cleanup { after(fn: () => unknown): void }

export async function twoHosts(t: Cleanup, prefix: string, extraB: readonly number[] = []): Promise<{ a: NetnsHost; b: NetnsHost; net: string }> {
  const suffix = randomBytes(3).toString("hex");
  const [na, nb] = [`${prefix}${suffix}a`, `${prefix}${suffix}b`];
  const net = `10.${77 + (randomBytes(1)[0]! % 100)}.${randomBytes(1)[0]! % 250}`;
  const children: ChildProcess[] = [];
  t.after(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
    await Promise.all(children.filter((c) => c.exitCode === null && c.signalCode === null).map((c) => new Promise((r) => c.once("exit", r))));
    for (const n of [na, nb]) await removeNamespace(n);
  });
  const host = (name: string): NetnsHost => ({
    name,
    exec: (args) => sh(["ip", "netns", "exec", name, ...args]),
    spawn: (args, options = {}) => {
      const drop = options.uid === undefined ? [] : ["setpriv", `--reuid=${options.uid}`, `--regid=${options.uid}`, "--clear-groups"];
      const child = spawn("ip", ["netns", "exec", name, ...drop, ...args], { stdio: ["ignore", "pipe", "pipe"] });
      children.push(child);
      return child;
    },
  });
  await sh(["ip", "netns", "add", na]);
  await sh(["ip", "netns", "add", nb]);
  const [va, vb] = [`${prefix}${suffix}x`, `${prefix}${suffix}y`];
  await sh(["ip", "link", "add", va, "netns", na, "type", "veth", "peer", "name", vb, "netns", nb]);
  const a = host(na);
  const b = host(nb);
  await a.exec(["ip", "link", "set", "lo", "up"]);
  await b.exec(["ip", "link", "set", "lo", "up"]);
  await a.exec(["ip", "addr", "add", `${net}.1/24`, "dev", va]);
  await b.exec(["ip", "addr", "add", `${net}.2/24`, "dev", vb]);
  for (const x of extraB) await b.exec(["ip", "addr", "add", `${net}.${x}/24`, "dev", vb]);
  await a.exec(["ip", "link", "set", va, "up"]);
  await b.exec(["ip", "link", "set", vb, "up"]);
  await a.exec(["ip", "route", "add", "default", "via", `${net}.2`]);
  return { a, b, net };
}

/**
 * Kills every process still in the namespace (a daemon that outlived its
 * parent, as Pipy after kill -9 of its agent, is not among our children),
 * then deletes it.
 */
async function removeNamespace(name: string): Promise<void> {
  const pids = (await sh(["ip", "netns", "pids", name]).catch(() => "")).split(/\s+/).filter((p) => /^\d+$/.test(p));
  for (const pid of pids) {
    try {
      process.kill(Number(pid), "SIGKILL");
    } catch {
      // gone already
    }
  }
  await sh(["ip", "netns", "del", name]).catch(() => undefined);
}

/** Collects a child's output lines; `line(pred)` resolves with the first line matching. */
export function lines(child: ChildProcess): { all: string[]; line: (pred: (l: string) => boolean, timeoutMs?: number) => Promise<string> } {
  const all: string[] = [];
  const waiters = new Set<{ pred: (l: string) => boolean; resolve: (l: string) => void }>();
  let buf = "";
  const feed = (d: Buffer) => {
    buf += d.toString("utf8");
    let nl: number;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const l = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      all.push(l);
      for (const w of waiters) if (w.pred(l)) { waiters.delete(w); w.resolve(l); }
    }
  };
  child.stdout?.on("data", feed);
  child.stderr?.on("data", feed);
  return {
    all,
    line: (pred, timeoutMs = 20_000) => {
      const seen = all.find(pred);
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const w = { pred, resolve: (l: string) => { clearTimeout(timer); resolve(l); } };
        const timer = setTimeout(() => { waiters.delete(w); reject(new Error(`no such line within ${timeoutMs} ms; output:\n${all.slice(-30).join("\n")}`)); }, timeoutMs);
        waiters.add(w);
      });
    },
  };
}

/** A host with its own /etc: what the agent writes there (resolv.conf) stays in `etc`'s upper layer. */
export interface PrivateEtcHost extends NetnsHost {
  /** The overlay's upper directory: files the host's processes changed or added in /etc. */
  readonly upper: string;
}

/**
 * Gives a namespace host its own mount namespace whose /etc is an overlay on
 * the real one, so an agent may replace /etc/resolv.conf there as on a VM
 * (rename and all) without touching this machine's. Commands run through the
 * returned host (nsenter into both namespaces); everything is killed and
 * removed in t.after.
 */
export async function withPrivateEtc(t: Cleanup, host: NetnsHost, resolvConf: string): Promise<PrivateEtcHost> {
  const dir = await mkdtemp(join(tmpdir(), "mfetc-"));
  const [upper, work] = [join(dir, "upper"), join(dir, "work")];
  await mkdir(upper);
  await mkdir(work);
  // Written into the upper layer before the mount: the host's resolv.conf from its first moment.
  await writeFile(join(upper, "resolv.conf"), resolvConf);
  const children: ChildProcess[] = [];
  // ip netns exec, unshare (without --fork) and sh's exec keep one pid: the holder's is the namespaces' handle.
  const holder = spawn("ip", ["netns", "exec", host.name, "unshare", "-m", "--propagation", "private", "sh", "-c",
    `mount -t overlay overlay -o lowerdir=/etc,upperdir=${upper},workdir=${work} /etc && echo ready && exec sleep 2147483647`], { stdio: ["ignore", "pipe", "pipe"] });
  children.push(holder);
  t.after(async () => {
    for (const c of children.reverse()) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
    await Promise.all(children.filter((c) => c.exitCode === null && c.signalCode === null).map((c) => new Promise((r) => c.once("exit", r))));
    await rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
  });
  await lines(holder).line((l) => l === "ready", 10_000);
  const enter = (uid?: number) => ["nsenter", "-t", String(holder.pid), "-m", "-n", "--", ...(uid === undefined ? [] : ["setpriv", `--reuid=${uid}`, `--regid=${uid}`, "--clear-groups"])];
  return {
    name: host.name,
    upper,
    exec: (args) => sh([...enter(), ...args]),
    spawn: (args, options = {}) => {
      const [bin, ...rest] = [...enter(options.uid), ...args];
      const child = spawn(bin!, rest, { stdio: ["ignore", "pipe", "pipe"] });
      children.push(child);
      return child;
    },
  };
}

/**
 * A third namespace outside the mesh, linked to `b` only (its own /24, b at
 * .2, a default route via b): a client on another machine that reaches b's
 * addresses and has no sidecar.
 */
export async function outsideHost(t: Cleanup, b: NetnsHost, prefix: string): Promise<{ c: NetnsHost; address: string }> {
  const suffix = randomBytes(3).toString("hex");
  const name = `${prefix}${suffix}c`;
  const net = `10.${177 + (randomBytes(1)[0]! % 50)}.${randomBytes(1)[0]! % 250}`;
  const children: ChildProcess[] = [];
  t.after(async () => {
    for (const ch of children) if (ch.exitCode === null && ch.signalCode === null) ch.kill("SIGKILL");
    await removeNamespace(name);
  });
  await sh(["ip", "netns", "add", name]);
  const c: NetnsHost = {
    name,
    exec: (args) => sh(["ip", "netns", "exec", name, ...args]),
    spawn: (args) => {
      const child = spawn("ip", ["netns", "exec", name, ...args], { stdio: ["ignore", "pipe", "pipe"] });
      children.push(child);
      return child;
    },
  };
  const [vc, vb] = [`${prefix}${suffix}p`, `${prefix}${suffix}q`];
  await sh(["ip", "link", "add", vc, "netns", name, "type", "veth", "peer", "name", vb, "netns", b.name]);
  await c.exec(["ip", "link", "set", "lo", "up"]);
  await c.exec(["ip", "addr", "add", `${net}.1/24`, "dev", vc]);
  await b.exec(["ip", "addr", "add", `${net}.2/24`, "dev", vb]);
  await c.exec(["ip", "link", "set", vc, "up"]);
  await b.exec(["ip", "link", "set", vb, "up"]);
  await c.exec(["ip", "route", "add", "default", "via", `${net}.2`]);
  return { c, address: `${net}.1` };
}

/**
 * Makes this process's 127.0.0.1:`port` (the test's in-process controller)
 * answer at 127.0.0.1:`port` inside `host` too, through a Unix socket (a
 * file: the one thing both network namespaces see). Inside, a relay child
 * listens on loopback, which capture never redirects. Closed in t.after.
 */
export async function bridgePort(t: Cleanup, host: NetnsHost, port: number): Promise<void> {
  const relay = await unixRelayTo(port);
  t.after(() => relay.close());
  const child = host.spawn([process.execPath, RELAY_INSIDE, relay.path, String(port)]);
  await lines(child).line((l) => l === "ready", 10_000);
}
