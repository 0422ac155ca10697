/**
 * What a test run left behind: entries in its private temp directory,
 * processes still running with that directory in their command line (agents,
 * Pipy, sshd, etcd, Chromium: every one the tests start gets a path in it),
 * network namespaces and MESHFED nat rules that were not there before.
 */
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";

export interface HostSnapshot {
  /** null: `ip netns` is not usable here (not root, no iproute2). */
  readonly namespaces: ReadonlySet<string> | null;
  /** null: `iptables-save` is not usable here. */
  readonly natRules: ReadonlySet<string> | null;
}

export interface Leftovers {
  readonly entries: readonly string[];
  readonly processes: ReadonlyArray<{ pid: number; command: string }>;
  readonly namespaces: readonly string[];
  readonly natRules: readonly string[];
}

function lines(command: string, args: readonly string[]): string[] | null {
  try {
    return execFileSync(command, args, { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).split("\n").filter((l) => l.trim() !== "");
  } catch {
    return null;
  }
}

export function snapshotHost(): HostSnapshot {
  const ns = lines("ip", ["netns", "list"]);
  const nat = lines("iptables-save", ["-t", "nat"]);
  return {
    // `ip netns list` prints "name (id: N)" for namespaces with an id.
    namespaces: ns === null ? null : new Set(ns.map((l) => l.split(" ")[0]!)),
    natRules: nat === null ? null : new Set(nat.filter((l) => l.includes("MESHFED"))),
  };
}

/** Processes (other than this one) whose command line names `dir`. */
export function processesUsing(dir: string): Array<{ pid: number; command: string }> {
  const found: Array<{ pid: number; command: string }> = [];
  for (const name of readdirSync("/proc")) {
    const pid = Number(name);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    let command: string;
    try {
      command = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ").trim();
    } catch {
      continue; // exited meanwhile, or not ours to read
    }
    if (command.includes(dir)) found.push({ pid, command });
  }
  return found;
}

export function leftovers(dir: string, before: HostSnapshot, after: HostSnapshot): Leftovers {
  const added = (a: ReadonlySet<string> | null, b: ReadonlySet<string> | null): string[] => (a === null || b === null ? [] : [...b].filter((x) => !a.has(x)));
  let entries: string[];
  try {
    entries = readdirSync(dir).sort();
  } catch {
    entries = [];
  }
  return { entries, processes: processesUsing(dir), namespaces: added(before.namespaces, after.namespaces), natRules: added(before.natRules, after.natRules) };
}

export function isClean(l: Leftovers): boolean {
  return l.entries.length === 0 && l.processes.length === 0 && l.namespaces.length === 0 && l.natRules.length === 0;
}

/** One line per leftover, for the suite's failure message. */
export function describeLeftovers(l: Leftovers): string[] {
  return [
    ...l.entries.map((e) => `temp entry: ${e}`),
    ...l.processes.map((p) => `process ${p.pid}: ${p.command.slice(0, 300)}`),
    ...l.namespaces.map((n) => `network namespace: ${n} (remove: ip netns delete ${n})`),
    ...l.natRules.map((r) => `nat rule: ${r}`),
  ];
}
