/**
 * CPU accounting for the sidecars scenario, Linux only: which Pipy processes
 * serve the sidecars (found by their listening outbound port, as the e2e test
 * finds them) and how much CPU they used. Elsewhere both return nothing and
 * the scenario leaves the Pipy CPU figure out.
 */
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";

function run(cmd: string, args: readonly string[]): Promise<string> {
  return new Promise((resolve) => execFile(cmd, args, { timeout: 5_000 }, (err, stdout) => resolve(err ? "" : stdout)));
}

/** The pids listening on `ip:port` for each ip (ss -p). */
export async function sidecarPids(ips: readonly string[], port: number): Promise<number[]> {
  const pids = new Set<number>();
  for (const ip of ips) {
    const out = await run("ss", ["-Hltnp", `src ${ip}:${port}`]);
    for (const m of out.matchAll(/pid=(\d+)/g)) pids.add(Number(m[1]));
  }
  return [...pids];
}

let ticks: number | undefined;

/** User + system CPU seconds used so far by these processes (all their threads), from /proc/<pid>/stat. */
export async function processCpuSeconds(pids: readonly number[]): Promise<number> {
  ticks ??= Number((await run("getconf", ["CLK_TCK"])).trim()) || 100;
  let total = 0;
  for (const pid of pids) {
    const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => "");
    // Fields after the parenthesised command name (which may hold spaces): utime is the 12th, stime the 13th.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    total += (Number(fields[11] ?? 0) + Number(fields[12] ?? 0)) / ticks;
  }
  return total;
}
