/**
 * Remove one agent from a host: stop it, remove its unit (if the install used
 * systemd) and its directory. What was installed is read from the install
 * record, so an uninstall does not need to be told how it was installed.
 */
import { serviceKey, type ServiceRef } from "../common/service.js";
import { installRecordSchema } from "./agent-files.js";
import { agentLayout } from "./layout.js";
import type { HostFacts } from "./probe.js";
import { readRemoteFile, removeRemote } from "./remote-files.js";
import { shellQuote, type RemoteShell } from "./remote-shell.js";
import { createServiceManager } from "./service-factory.js";
import type { AgentResult, InstallOptions, StepReporter } from "./types.js";

export async function uninstallAgent(
  shell: RemoteShell,
  facts: HostFacts,
  service: ServiceRef,
  options: Pick<InstallOptions, "installRoot" | "unitDir" | "node" | "serviceManager">,
  report: StepReporter,
): Promise<AgentResult> {
  const layout = agentLayout(options.installRoot, service, options.unitDir);
  report("plan");
  const recordText = await readRemoteFile(shell, layout.record);
  let kind = options.serviceManager;
  if (recordText !== undefined) {
    try {
      kind = installRecordSchema.parse(JSON.parse(recordText)).serviceManager;
    } catch {
      // unreadable record: fall back to what the command line says
    }
  }
  const exists = (await shell.run(`[ -e ${shellQuote(layout.dir)} ] || [ -e ${shellQuote(layout.unitFile)} ]`)).code === 0;
  if (!exists) return { outcome: "absent" };
  report("stop");
  await createServiceManager(kind, facts, { layout, node: options.node, service: serviceKey(service) }).remove(shell);
  report("remove");
  await removeRemote(shell, [layout.dir]);
  return { outcome: "removed" };
}
