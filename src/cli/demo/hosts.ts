/**
 * The transparent demo's two "hosts": network namespaces joined by a veth
 * pair, bookbuyer's at <net>.1 and bookstore-v1's at <net>.2. Bookbuyer's
 * host also gets a mount namespace whose /etc is an overlay on this
 * machine's, so the agent's resolver hook rewrites a private resolv.conf.
 * Everything is registered with the Teardown; nothing touches the root
 * namespace's rules, routes or resolver.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stopChild, waitForLine } from "./child.js";
import { run } from "./run.js";
import type { Teardown } from "./teardown.js";

// Every child gets its own process group (detached): Ctrl-C in a terminal signals the whole
// foreground group, and the demo must stop its children itself, in order (apps, agents with their
// restore, then the namespaces), not have them all die at once.
export interface DemoHost {
  /** The network namespace's name. */
  readonly name: string;
  /** This host's address on the veth link. */
  readonly address: string;
  /** The command prefix that runs something on this host (printed for the user, used by exec/spawn). */
  readonly enter: readonly string[];
  exec(args: readonly string[]): Promise<string>;
  /** A long-running process on this host; the caller owns it. */
  spawn(args: readonly string[], options?: { cwd?: string }): ChildProcess;
}

const hostOf = (name: string, address: string, enter: readonly string[]): DemoHost => ({
  name,
  address,
  enter,
  exec: (args) => run([...enter, ...args]),
  spawn: (args, options = {}) => {
    const [bin, ...rest] = [...enter, ...args];
    return spawn(bin!, rest, { stdio: ["ignore", "pipe", "pipe"], detached: true, ...(options.cwd === undefined ? {} : { cwd: options.cwd }) });
  },
});

/** Kills whatever still runs in the namespace (a Pipy outliving its agent is nobody's child), then deletes it. */
export async function removeNamespace(name: string): Promise<void> {
  const pids = (await run(["ip", "netns", "pids", name]).catch(() => "")).split(/\s+/).filter((p) => /^\d+$/.test(p));
  for (const pid of pids) {
    try {
      process.kill(Number(pid), "SIGKILL");
    } catch {
      // already gone
    }
  }
  await run(["ip", "netns", "del", name]);
}

export async function createDemoHosts(teardown: Teardown, prefix: string): Promise<{ buyer: DemoHost; store: DemoHost; net: string }> {
  const suffix = randomBytes(3).toString("hex");
  const [na, nb] = [`${prefix}${suffix}-bookbuyer`, `${prefix}${suffix}-bookstore`];
  // A /24 in 10.0.0.0/8 picked at random: two demos (or tests) at once do not collide in practice,
  // and the namespaces never route to this machine's own networks.
  const bytes = randomBytes(2);
  const net = `10.${200 + (bytes[0]! % 50)}.${bytes[1]! % 250}`;
  for (const n of [na, nb]) {
    await run(["ip", "netns", "add", n]);
    await teardown.add(`namespace ${n}`, () => removeNamespace(n));
  }
  // Interface names are at most 15 characters, hence short ones; they vanish with their namespaces.
  const [va, vb] = [`mfd${suffix}a`, `mfd${suffix}b`];
  await run(["ip", "link", "add", va, "netns", na, "type", "veth", "peer", "name", vb, "netns", nb]);
  const a = hostOf(na, `${net}.1`, ["ip", "netns", "exec", na]);
  const store = hostOf(nb, `${net}.2`, ["ip", "netns", "exec", nb]);
  for (const [h, dev] of [[a, va], [store, vb]] as const) {
    await h.exec(["ip", "link", "set", "lo", "up"]);
    await h.exec(["ip", "addr", "add", `${h.address}/24`, "dev", dev]);
    await h.exec(["ip", "link", "set", dev, "up"]);
  }
  // A default route: the mesh's virtual IPs (240.0.0.0/4) need one to be dialled and captured at all.
  await a.exec(["ip", "route", "add", "default", "via", store.address]);
  const buyer = await withPrivateEtc(teardown, a);
  return { buyer, store, net };
}

/**
 * A mount namespace inside `host`'s network namespace whose /etc is an
 * overlay on this machine's: the agent may replace /etc/resolv.conf there as
 * on a VM, and the change stays in the overlay's upper layer. A holder
 * process keeps both namespaces; everything else enters them with nsenter.
 */
async function withPrivateEtc(teardown: Teardown, host: DemoHost): Promise<DemoHost> {
  const dir = await mkdtemp(join(tmpdir(), "meshfed-demo-etc-"));
  await teardown.add("private /etc", () => rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 }));
  const [upper, work] = [join(dir, "upper"), join(dir, "work")];
  await mkdir(upper);
  await mkdir(work);
  // The host starts with this machine's resolver (the agent forwards other names there).
  const resolv = await readFile("/etc/resolv.conf", "utf8").catch(() => "");
  await writeFile(join(upper, "resolv.conf"), `# bookbuyer's host in the meshfed demo (a private copy)\n${resolv}`);
  // ip netns exec, unshare without --fork and sh's exec keep one pid: the holder's pid is the namespaces' handle.
  const holder = spawn("ip", ["netns", "exec", host.name, "unshare", "-m", "--propagation", "private", "sh", "-c",
    `mount -t overlay overlay -o lowerdir=/etc,upperdir=${upper},workdir=${work} /etc && echo ready && exec sleep 2147483647`], { stdio: ["ignore", "pipe", "pipe"], detached: true });
  await teardown.add("private /etc holder", () => stopChild(holder, "SIGKILL"));
  await waitForLine(holder, "ready", 10_000);
  return hostOf(host.name, host.address, ["nsenter", "-t", String(holder.pid), "-m", "-n", "--"]);
}
