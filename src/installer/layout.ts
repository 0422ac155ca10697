/**
 * Where an installed agent lives on a host. One directory per service under
 * the install root (default /opt/meshfed), so one host can run several
 * agents and an uninstall removes exactly one directory (plus its unit).
 *
 *   <root>/agents/<namespace>_<name>/   ("_" cannot occur in a DNS label: no two services share a directory)
 *     meshfed-agent.mjs, proto/...      the bundle
 *     agent.yaml  ca.pem  token (0600, deleted once enrolled)
 *     install.json                      what was installed, read by upgrade and uninstall
 *     data/ (0700)                      the agent's dataDir (keys, certificates, configs)
 *     data.previous/                    an enrollment from another CA, kept while a re-install
 *                                       re-enrolls (restored if it fails, removed once it succeeds)
 *     agent.pid  agent.log              service manager "none" only
 */
import { posix } from "node:path";
import type { ServiceRef } from "../common/service.js";
import { BUNDLE_FILES } from "./bundle.js";

export const DEFAULT_INSTALL_ROOT = "/opt/meshfed";
export const DEFAULT_UNIT_DIR = "/etc/systemd/system";

export interface AgentLayout {
  readonly dir: string;
  readonly script: string;
  readonly config: string;
  readonly caFile: string;
  readonly tokenFile: string;
  readonly record: string;
  readonly dataDir: string;
  /** Written by the agent once enrolled: `{ proxyId, service, enrolledAt }`. */
  readonly stateFile: string;
  /** The data directory set aside while re-enrolling against a controller with another CA. */
  readonly previousDataDir: string;
  /** Written by the agent while it and the controller do not share a CA (src/agent/ca-mismatch.ts). */
  readonly trustFailureFile: string;
  /** The proxy key and certificate the agent holds: a renewal's file first, else the enrollment's. */
  readonly proxyIdentityFile: string;
  readonly proxyCertFile: string;
  readonly pidFile: string;
  readonly logFile: string;
  readonly unitName: string;
  readonly unitFile: string;
  /** Bundle file (relative name) -> path on the host. */
  bundlePath(file: string): string;
}

export function agentLayout(installRoot: string, service: ServiceRef, unitDir: string = DEFAULT_UNIT_DIR): AgentLayout {
  const id = `${service.namespace}_${service.name}`;
  const dir = posix.join(installRoot, "agents", id);
  const unitName = `meshfed-agent-${id}.service`;
  return {
    dir,
    script: posix.join(dir, BUNDLE_FILES.script),
    config: posix.join(dir, "agent.yaml"),
    caFile: posix.join(dir, "ca.pem"),
    tokenFile: posix.join(dir, "token"),
    record: posix.join(dir, "install.json"),
    dataDir: posix.join(dir, "data"),
    stateFile: posix.join(dir, "data", "state.json"),
    previousDataDir: posix.join(dir, "data.previous"),
    trustFailureFile: posix.join(dir, "data", "trust-failure.json"),
    proxyIdentityFile: posix.join(dir, "data", "proxy-identity.json"),
    proxyCertFile: posix.join(dir, "data", "proxy-cert.pem"),
    pidFile: posix.join(dir, "agent.pid"),
    logFile: posix.join(dir, "agent.log"),
    unitName,
    unitFile: posix.join(unitDir, unitName),
    bundlePath: (file) => posix.join(dir, file),
  };
}
