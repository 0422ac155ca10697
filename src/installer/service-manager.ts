/**
 * How an installed agent is kept running on its host. Two kinds:
 *   systemd  the unit from agents/ (hardened, restarts, journal), for real hosts
 *   none     a detached process with a pid file, for hosts without systemd
 *            (containers, minimal images) and for tests
 * Each call is its own command on the host, so tests can record or answer
 * them (no systemd runs in CI).
 */
import type { RemoteShell } from "./remote-shell.js";
import type { AgentLayout } from "./layout.js";
import type { DesiredFile } from "./remote-files.js";

export const SERVICE_MANAGERS = ["systemd", "none"] as const;
export type ServiceManagerKind = (typeof SERVICE_MANAGERS)[number];

export interface ServiceManager {
  readonly kind: ServiceManagerKind;
  /** Files this manager adds to the install (the unit file). */
  files(): DesiredFile[];
  /** Runs before the agent first starts: service user, ownership. */
  prepare(shell: RemoteShell): Promise<void>;
  /** Starts the agent, or restarts it when it runs, so that it reads the new files. */
  restart(shell: RemoteShell): Promise<void>;
  /** Stops the agent and waits until it has exited; the unit stays installed. Idempotent. */
  stop(shell: RemoteShell): Promise<void>;
  isRunning(shell: RemoteShell): Promise<boolean>;
  /** A shell condition, true while the agent runs (combined into other commands to save round trips). */
  readonly runningTest: string;
  /** Stops the agent and removes what the manager installed (unit, pid file); idempotent. */
  remove(shell: RemoteShell): Promise<void>;
  /** The agent's last log lines, for an error report. */
  logTail(shell: RemoteShell): Promise<string>;
}

export interface ServiceManagerOptions {
  readonly layout: AgentLayout;
  /** The Node.js binary on the host. */
  readonly node: string;
  readonly service: string;
  /** The agent captures traffic (docs/dataplane.md "Capture"): it needs root's network and setuid capabilities. */
  readonly capture?: boolean;
}
