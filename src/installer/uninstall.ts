/**
 * Remove one agent from a host: stop it, remove its unit (if the install used
 * systemd) and its directory, then revoke its proxy certificate at the
 * controller (unless told to keep it): a copy of the key left in a backup
 * must not be able to join the mesh later. What was installed is read from
 * the install record, so an uninstall does not need to be told how it was
 * installed.
 *
 * The host comes first: removing the agent is what was asked, and a
 * controller that is away must not leave it running. A failed revocation
 * then fails the job with the proxy id, so the operator can finish by hand.
 */
import { z } from "zod";
import { errorMessage, MeshfedError } from "../common/errors.js";
import { serviceKey, type ServiceRef } from "../common/service.js";
import { installRecordSchema } from "./agent-files.js";
import { cleanupCapture } from "./capture.js";
import { agentLayout } from "./layout.js";
import type { HostFacts } from "./probe.js";
import { readRemoteFile, removeRemote } from "./remote-files.js";
import { shellQuote, type RemoteShell } from "./remote-shell.js";
import { createServiceManager } from "./service-factory.js";
import type { AgentResult, ControllerAdmin, InstallOptions, StepReporter } from "./types.js";

const enrolledStateSchema = z.object({ proxyId: z.string().regex(/^[0-9a-f-]{36}$/) });

export async function uninstallAgent(
  shell: RemoteShell,
  facts: HostFacts,
  service: ServiceRef,
  options: Pick<InstallOptions, "installRoot" | "unitDir" | "node" | "serviceManager">,
  report: StepReporter,
  /** Absent: keep the certificate (`--keep-certificate`). */
  admin?: Pick<ControllerAdmin, "revokeProxy">,
): Promise<AgentResult> {
  const layout = agentLayout(options.installRoot, service, options.unitDir);
  report("plan");
  const recordText = await readRemoteFile(shell, layout.record);
  let kind = options.serviceManager;
  let captured = false;
  if (recordText !== undefined) {
    try {
      const record = installRecordSchema.parse(JSON.parse(recordText));
      kind = record.serviceManager;
      captured = record.capture === "transparent";
    } catch {
      // unreadable record: fall back to what the command line says
    }
  }
  const exists = (await shell.run(`[ -e ${shellQuote(layout.dir)} ] || [ -e ${shellQuote(layout.unitFile)} ]`)).code === 0;
  if (!exists) return { outcome: "absent" };
  const proxyId = enrolledProxyId(await readRemoteFile(shell, layout.stateFile));
  report("stop");
  await createServiceManager(kind, facts, { layout, node: options.node, service: serviceKey(service) }).remove(shell);
  if (captured) {
    // A stopped agent removed its rules itself; one killed earlier left them: the agent's own command removes exactly those.
    report("cleanup");
    await cleanupCapture(shell, options.node, layout);
  }
  report("remove");
  await removeRemote(shell, [layout.dir]);
  if (admin === undefined || proxyId === undefined) return { outcome: "removed", ...(proxyId ? { proxyId } : {}) };
  report("revoke");
  try {
    await admin.revokeProxy(proxyId, `agent of ${serviceKey(service)} uninstalled`);
  } catch (err) {
    throw new MeshfedError("MESHFED_INSTALL_REVOKE", `the agent was removed from the host, but revoking the certificate of proxy ${proxyId} failed (${errorMessage(err)}); revoke it with meshfed certs revoke`, { cause: err });
  }
  return { outcome: "removed", proxyId };
}

/** The proxy id the agent wrote once enrolled; undefined if it never enrolled or the file is unreadable. */
function enrolledProxyId(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  try {
    return enrolledStateSchema.parse(JSON.parse(text)).proxyId;
  } catch {
    return undefined;
  }
}
