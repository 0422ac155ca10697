/** Install or uninstall across many hosts: the entry points the CLI and the tests call. */
import { serviceKey } from "../common/service.js";
import type { AgentBundle } from "./bundle.js";
import { runFleet, type JobResult, type ProgressSink } from "./fleet.js";
import { withHost } from "./host-session.js";
import { installAgent } from "./install.js";
import type { RemoteShell } from "./remote-shell.js";
import type { InstallJob } from "./targets.js";
import type { ControllerAdmin, InstallOptions } from "./types.js";
import { uninstallAgent } from "./uninstall.js";

export interface FleetOptions extends InstallOptions {
  readonly parallel: number;
  readonly progress: ProgressSink;
  readonly wrapShell?: (shell: RemoteShell) => RemoteShell;
  readonly signal?: AbortSignal;
}

function fleetJobs(jobs: readonly InstallJob[]) {
  return jobs.map((job) => ({ host: job.host, service: serviceKey(job.spec.service), job }));
}

export async function installFleet(jobs: readonly InstallJob[], admin: ControllerAdmin, bundle: AgentBundle, options: FleetOptions): Promise<JobResult[]> {
  // One CA bundle for the whole run: every agent pins the same trust anchor.
  const caBundle = await admin.caBundle();
  return runFleet(fleetJobs(jobs), options.parallel, ({ job }, report) =>
    withHost(job.target, options, report, (shell, facts) =>
      installAgent(shell, facts, job.spec, options, { admin, bundle, caBundle, report, ...(options.signal ? { signal: options.signal } : {}) }),
    ), options.progress);
}

/** `admin`: revoke each removed agent's certificate there; absent, certificates are kept. */
export async function uninstallFleet(jobs: readonly InstallJob[], options: FleetOptions, admin?: Pick<ControllerAdmin, "revokeProxy">): Promise<JobResult[]> {
  return runFleet(fleetJobs(jobs), options.parallel, ({ job }, report) =>
    withHost(job.target, options, report, (shell, facts) => uninstallAgent(shell, facts, job.spec.service, options, report, admin)), options.progress);
}
