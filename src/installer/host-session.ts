/**
 * The part every per-host job shares: connect (host key checked), probe,
 * escalate through sudo when not root, do the work, always disconnect.
 */
import { probeHost, type HostFacts } from "./probe.js";
import { withSudo, type RemoteShell } from "./remote-shell.js";
import { SshSession, type SshTarget } from "./ssh-session.js";
import type { StepReporter } from "./types.js";

export interface HostSessionOptions {
  readonly node: string;
  /** Tests wrap the shell to record or answer commands (systemctl on a host without systemd). */
  readonly wrapShell?: (shell: RemoteShell) => RemoteShell;
}

export async function withHost<T>(target: SshTarget, options: HostSessionOptions, report: StepReporter, work: (shell: RemoteShell, facts: HostFacts) => Promise<T>): Promise<T> {
  report("connect");
  const session = await SshSession.connect(target);
  try {
    report("probe");
    const base: RemoteShell = options.wrapShell ? options.wrapShell(session) : session;
    const facts = await probeHost(base, options.node);
    return await work(facts.root ? base : withSudo(base), facts);
  } finally {
    await session.close();
  }
}
