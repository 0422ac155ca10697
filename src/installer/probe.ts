/**
 * What the installer must know about a host before changing anything: OS,
 * architecture, init system, whether it runs as root, and the Node.js that
 * will run the agent bundle (>= 20; docs/installer.md says why Node and not
 * a single executable). One round trip; nothing is changed.
 */
import { MeshfedError } from "../common/errors.js";
import { shellQuote, type RemoteShell } from "./remote-shell.js";

export const PROBE_ERRORS = {
  node: "MESHFED_HOST_NODE_MISSING",
  nodeOld: "MESHFED_HOST_NODE_TOO_OLD",
  os: "MESHFED_HOST_UNSUPPORTED_OS",
  failed: "MESHFED_HOST_PROBE_FAILED",
} as const;

export const MIN_NODE_MAJOR = 20;

export type InitSystem = "systemd" | "other";

export interface HostFacts {
  readonly os: string;
  readonly arch: string;
  readonly init: InitSystem;
  readonly root: boolean;
  /** e.g. "v20.19.2" */
  readonly nodeVersion: string;
  /** Whether transparent capture can work: iptables-save reads the nat table ("yes"), or why not. */
  readonly iptables: "yes" | "nft-only" | "missing" | "unusable";
  /** e.g. "v1.8.9 (nf_tables)"; "" when unknown. */
  readonly iptablesVersion: string;
}

// Each fact on its own `key=value` line so one missing tool does not shift the others.
function probeScript(node: string): string {
  return [
    'echo "os=$(uname -s 2>/dev/null)"',
    'echo "arch=$(uname -m 2>/dev/null)"',
    'echo "uid=$(id -u 2>/dev/null)"',
    // /run/systemd/system exists only when systemd is PID 1 (sd_booted(3)).
    'if [ -d /run/systemd/system ]; then echo init=systemd; else echo init=other; fi',
    `echo "node=$(${shellQuote(node)} --version 2>/dev/null)"`,
    // Read-only: iptables-save neither creates the nat table nor loads anything into it.
    "if command -v iptables-save >/dev/null 2>&1; then",
    "  if iptables-save -t nat >/dev/null 2>&1; then echo iptables=yes; else echo iptables=unusable; fi",
    '  echo "iptablesVersion=$(iptables --version 2>/dev/null | sed -n \'s/^iptables //p\')"',
    "elif command -v nft >/dev/null 2>&1; then echo iptables=nft-only; else echo iptables=missing; fi",
  ].join("\n");
}

export async function probeHost(shell: RemoteShell, node: string): Promise<HostFacts> {
  const r = await shell.run(probeScript(node));
  if (r.code !== 0) throw new MeshfedError(PROBE_ERRORS.failed, `probing the host failed (exit ${r.code}): ${r.stderr.trim()}`);
  const facts = new Map<string, string>();
  for (const line of r.stdout.split("\n")) {
    const at = line.indexOf("=");
    if (at > 0) facts.set(line.slice(0, at), line.slice(at + 1).trim());
  }
  const os = facts.get("os") ?? "";
  if (os !== "Linux") throw new MeshfedError(PROBE_ERRORS.os, `the host runs ${os === "" ? "an unknown OS" : os}; the agent installer supports Linux`);
  const nodeVersion = facts.get("node") ?? "";
  const major = /^v(\d+)\./.exec(nodeVersion)?.[1];
  if (major === undefined) {
    throw new MeshfedError(PROBE_ERRORS.node, `no Node.js on the host (\`${node} --version\` failed); the agent needs Node >= ${MIN_NODE_MAJOR} (install it, or give --node PATH)`);
  }
  if (Number(major) < MIN_NODE_MAJOR) {
    throw new MeshfedError(PROBE_ERRORS.nodeOld, `the host's Node.js is ${nodeVersion}; the agent needs Node >= ${MIN_NODE_MAJOR}`);
  }
  const iptables = facts.get("iptables");
  return {
    os, arch: facts.get("arch") ?? "unknown", init: facts.get("init") === "systemd" ? "systemd" : "other", root: facts.get("uid") === "0", nodeVersion,
    iptables: iptables === "yes" || iptables === "nft-only" || iptables === "unusable" ? iptables : "missing",
    iptablesVersion: facts.get("iptablesVersion") ?? "",
  };
}
