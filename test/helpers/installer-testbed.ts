/**
 * Shared setup for installer tests: an agent bundle built into a temp dir, a
 * user key, a known_hosts file, an install root per test (all "hosts" share
 * this machine's filesystem), and cleanup that kills every agent the test
 * started, whatever state the installs were left in.
 */
import { readdir, readFile, rm, mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildAgentBundle } from "../../src/installer/bundle-build.js";
import { loadAgentBundle, type AgentBundle } from "../../src/installer/bundle.js";
import type { JobResult, ProgressSink } from "../../src/installer/fleet.js";
import { generateKey, type KeyPair, type TestSshd } from "./sshd.js";
import { tempDir } from "./temp-dir.js";

interface AfterHook {
  after(fn: () => Promise<void> | void): void;
}

let bundle: Promise<{ dir: string; bundle: AgentBundle }> | undefined;

/** Built once per test file (process); removed when the process exits (an asynchronous rm in an exit listener never ran to the end). */
export function testBundle(): Promise<{ dir: string; bundle: AgentBundle }> {
  bundle ??= (async () => {
    const dir = await tempDir("meshfed-bundle-");
    await buildAgentBundle(dir);
    return { dir, bundle: await loadAgentBundle(dir) };
  })();
  return bundle;
}

export interface Workspace {
  readonly dir: string;
  readonly installRoot: string;
  readonly unitDir: string;
  readonly userKey: KeyPair;
  readonly knownHosts: string;
  trust(...servers: TestSshd[]): Promise<void>;
}

/** Kills every agent under the install root (pid files), so no test leaves one running. */
export async function killAgents(installRoot: string): Promise<void> {
  const agents = await readdir(join(installRoot, "agents")).catch(() => [] as string[]);
  for (const a of agents) {
    const pid = Number((await readFile(join(installRoot, "agents", a, "agent.pid"), "utf8").catch(() => "")).trim());
    if (Number.isInteger(pid) && pid > 0) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        continue; // already gone
      }
      // Gone before the install root is removed, or it would write its data dir back.
      const deadline = Date.now() + 5_000;
      while (alive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    }
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export async function workspace(t: AfterHook): Promise<Workspace> {
  const dir = await mkdtemp(join(tmpdir(), "meshfed-inst-"));
  const installRoot = join(dir, "root");
  const knownHosts = join(dir, "known_hosts");
  // One hook, agents first: node:test runs t.after hooks in the order they were added, so a
  // separate rm hook added earlier removed the pid files before the kill could read them and
  // left the agents running (seen: an installed agent still renewing its certificate after the suite).
  t.after(async () => {
    await killAgents(installRoot);
    await rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
  });
  return {
    dir,
    installRoot,
    unitDir: join(dir, "units"),
    userKey: await generateKey(join(dir, "id_ed25519")),
    knownHosts,
    trust: async (...servers) => {
      const existing = await readFile(knownHosts, "utf8").catch(() => "");
      await writeFile(knownHosts, existing + servers.map((s) => `${s.knownHostsLine}\n`).join(""));
    },
  };
}

/** Records every step and result, for assertions on what the progress display saw. */
export function recordingProgress(): ProgressSink & { steps: string[][]; results: JobResult[] } {
  const steps: string[][] = [];
  const results: JobResult[] = [];
  return {
    steps,
    results,
    step: (i, step) => (steps[i] ??= []).push(step),
    finished: (_i, r) => results.push(r),
  };
}
