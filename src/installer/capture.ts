/**
 * Transparent capture at install time (docs/installer.md "Traffic capture",
 * docs/dataplane.md "Capture"): whether a host gets it, the system user Pipy
 * runs as, and the cleanup the uninstaller runs.
 *
 * `auto` (the CLI's default) means transparent when the host can: iptables
 * usable, a proxy to capture for, and one agent on the host (both agents
 * would own the same chains). Otherwise none, and the summary says why.
 * `transparent` asked for on a host that cannot is a named failure.
 */
import { MeshfedError } from "../common/errors.js";
import type { AgentLayout } from "./layout.js";
import type { HostFacts } from "./probe.js";
import { shellQuote, type RemoteShell } from "./remote-shell.js";
import type { AgentSpec } from "./types.js";

export const CAPTURE_CHOICES = ["auto", "transparent", "none"] as const;
export type CaptureChoice = (typeof CAPTURE_CHOICES)[number];

/** The system user Pipy runs as under capture: no login, no home. */
export const PROXY_USER = "meshfed-proxy";

export const CAPTURE_INSTALL_ERRORS = {
  unavailable: "MESHFED_INSTALL_CAPTURE_UNAVAILABLE",
  user: "MESHFED_INSTALL_PROXY_USER",
} as const;

export interface CaptureDecision {
  readonly mode: "transparent" | "none";
  /** Why, for the summary: "iptables (nf_tables)" or why not. */
  readonly reason: string;
}

/** Throws MESHFED_INSTALL_CAPTURE_UNAVAILABLE when `transparent` was asked for and cannot be had. */
export function decideCapture(spec: AgentSpec, facts: HostFacts): CaptureDecision {
  const choice = spec.capture ?? "none";
  if (choice === "none") return { mode: "none", reason: "--capture none" };
  const why = spec.pipy === undefined ? "the agent runs without a proxy (--no-proxy)"
    : spec.sharedHost === true ? "several agents on this host: capture needs one agent per host"
    : facts.iptables === "nft-only" ? "the host has nftables but no iptables (install the iptables package)"
    : facts.iptables === "missing" ? "the host has no iptables"
    : facts.iptables === "unusable" ? "iptables-save failed on the host (not root?)"
    : undefined;
  if (why === undefined) return { mode: "transparent", reason: facts.iptablesVersion === "" ? "iptables" : `iptables ${facts.iptablesVersion}` };
  if (choice === "transparent") throw new MeshfedError(CAPTURE_INSTALL_ERRORS.unavailable, `--capture transparent is not possible: ${why}`);
  return { mode: "none", reason: why };
}

/**
 * Creates the proxy user unless it exists: useradd where there is one
 * (Debian, RHEL, SUSE), else busybox adduser (Alpine). Idempotent.
 */
export async function ensureProxyUser(shell: RemoteShell): Promise<void> {
  const user = shellQuote(PROXY_USER);
  const script = [
    `id -u ${user} >/dev/null 2>&1 && exit 0`,
    "nologin=$(command -v nologin || echo /usr/sbin/nologin)",
    `if command -v useradd >/dev/null 2>&1; then useradd --system --no-create-home --home-dir /nonexistent --shell "$nologin" --user-group ${user}`,
    `elif command -v adduser >/dev/null 2>&1; then addgroup -S ${user} 2>/dev/null; adduser -S -D -H -h /nonexistent -s "$nologin" -G ${user} ${user}`,
    "else echo 'neither useradd nor adduser on the host' >&2; exit 1; fi",
  ].join("\n");
  const r = await shell.run(script);
  if (r.code !== 0) throw new MeshfedError(CAPTURE_INSTALL_ERRORS.user, `creating the system user ${PROXY_USER} failed (exit ${r.code}): ${r.stderr.trim()}`);
}

/** Removes the capture rules with the agent's own command; run after the agent stopped, before its files go. */
export async function cleanupCapture(shell: RemoteShell, node: string, layout: AgentLayout): Promise<void> {
  const r = await shell.run(`${shellQuote(node)} ${shellQuote(layout.script)} agent cleanup`);
  if (r.code !== 0) throw new MeshfedError("MESHFED_INSTALL_CAPTURE_CLEANUP", `removing the capture rules failed (exit ${r.code}): ${(r.stderr || r.stdout).trim()}`);
}
