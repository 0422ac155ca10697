/**
 * The agent installer (DESIGN.md §5 src/installer; docs/installer.md): put
 * the agent on a host over SSH, keep it current, remove it; one host or a
 * fleet in parallel.
 *
 *   ssh-session.ts, known-hosts.ts   connection with host-key verification
 *   remote-shell.ts, remote-files.ts commands and staged uploads on the host
 *   probe.ts                         OS, arch, init system, Node.js version
 *   bundle.ts, bundle-build.ts       the agent as one ESM file (esbuild)
 *   layout.ts, agent-files.ts        where things go and what they contain
 *   service-*.ts                     systemd unit or a detached process
 *   install.ts, uninstall.ts         plan and apply for one agent
 *   fleet.ts, progress.ts, summary.ts  many hosts, live progress, final table
 */
import type { ServiceRef } from "../common/service.js";
import type { CaptureChoice } from "./capture.js";
import type { ServiceManagerKind } from "./service-manager.js";

/** What the controller's admin API does for the installer (the CLI implements it over HTTP). */
export interface ControllerAdmin {
  /** A fresh single-use join token for the service; a secret. */
  createToken(service: ServiceRef): Promise<string>;
  /** The CA bundle the agent pins. */
  caBundle(): Promise<string>;
  /** Whether a proxy with this id holds a stream to the controller now. */
  isConnected(proxyId: string): Promise<boolean>;
  /** Revokes every live certificate of the proxy; answers their serials. */
  revokeProxy(proxyId: string, reason: string): Promise<readonly string[]>;
}

/** One agent on one host. */
export interface AgentSpec {
  readonly service: ServiceRef;
  /** Controller gRPC addresses the agent dials. */
  readonly controller: readonly string[];
  readonly endpoints: readonly string[];
  readonly hostAddresses?: readonly string[];
  /** Pipy path on the host, or undefined for --no-proxy. */
  readonly pipy?: string;
  /** Pipy's own admin port; distinct per agent when a host runs several (default 127.0.0.1:6060). */
  readonly pipyAdminAddress?: string;
  readonly repoAddress: string;
  readonly logLevel: string;
  /** Transparent capture (docs/installer.md "Traffic capture"); absent = "none" (the CLI passes "auto"). */
  readonly capture?: CaptureChoice;
  /** True when other agents are installed on the same host (capture needs one agent per host). */
  readonly sharedHost?: boolean;
  /** "azure-imds": the agent enrolls by the Azure IMDS attested document; no join token is minted or uploaded. */
  readonly bootstrap?: "token" | "azure-imds";
}

export interface InstallOptions {
  /** "auto": systemd when it is the host's init system, else none. */
  readonly serviceManager: ServiceManagerKind | "auto";
  readonly installRoot: string;
  readonly unitDir: string;
  /** Node.js on the host (>= 20). */
  readonly node: string;
  /** How long to wait for the controller to report the agent connected. */
  readonly connectTimeoutMs: number;
}

/**
 * installed: fresh install; upgraded: new bundle; updated: new config, CA or
 * unit; restarted: same files, agent was down or not connected; re-enrolled:
 * the agent held an enrollment from another CA and enrolled with this
 * controller (a new proxy id); unchanged: nothing to do; removed / absent: uninstall.
 */
export type Outcome = "installed" | "upgraded" | "updated" | "restarted" | "re-enrolled" | "unchanged" | "removed" | "absent";

export interface AgentResult {
  readonly outcome: Outcome;
  readonly proxyId?: string;
  readonly version?: string;
  /** The capture mode installed and why, e.g. "transparent (iptables v1.8.9 (nf_tables))" or "none (the host has no iptables)". */
  readonly capture?: string;
}

/** Progress of one host: the step it is at, for the live display. */
export type StepReporter = (step: string) => void;
