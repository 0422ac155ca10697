// Network namespaces for data-plane tests (root only): "hosts" joined by a
// veth pair, commands run inside them, everything removed in t.after. Names
// carry a caller prefix plus a random suffix, so parallel sessions never
// share a namespace; nothing here touches the root namespace's iptables,
// routes or resolver.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { promisify } from "node:util";

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
    for (const n of [na, nb]) await sh(["ip", "netns", "del", n]).catch(() => undefined);
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
