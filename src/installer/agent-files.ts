/**
 * The files of one installed agent: config, CA bundle, bundle, install record.
 * Pure: the same inputs render the same bytes, which is what lets a re-run
 * compare hashes and answer "unchanged".
 */
import { createHash } from "node:crypto";
import { posix } from "node:path";
import { stringify } from "yaml";
import { z } from "zod";
import { serviceKey } from "../common/service.js";
import type { AgentBundle } from "./bundle.js";
import { PROXY_USER } from "./capture.js";
import type { AgentLayout } from "./layout.js";
import type { DesiredFile } from "./remote-files.js";
import type { ServiceManagerKind } from "./service-manager.js";
import type { AgentSpec } from "./types.js";

export function sha256(data: Buffer | string): string {
  return createHash("sha256").update(data).digest("hex");
}

/** agent.yaml in the format of src/agent/config.ts (docs/agent.md). */
export function renderAgentConfig(spec: AgentSpec, layout: AgentLayout, capture: "transparent" | "none" = "none"): string {
  const config = {
    controller: [...spec.controller],
    caFile: layout.caFile,
    ...(spec.bootstrap === "azure-imds" ? { bootstrap: "azure-imds" } : { tokenFile: layout.tokenFile }),
    dataDir: layout.dataDir,
    service: serviceKey(spec.service),
    endpoints: [...spec.endpoints],
    ...(spec.hostAddresses !== undefined && spec.hostAddresses.length > 0 ? { hostAddresses: [...spec.hostAddresses] } : {}),
    repoAddress: spec.repoAddress,
    logLevel: spec.logLevel,
    proxy: spec.pipy === undefined ? { enabled: false } : {
      enabled: true, pipy: spec.pipy,
      ...(spec.pipyAdminAddress !== undefined ? { adminAddress: spec.pipyAdminAddress } : {}),
      ...(capture === "transparent" ? { user: PROXY_USER } : {}),
    },
    ...(capture === "transparent" ? { capture: { mode: "transparent" } } : {}),
  };
  return `# Written by \`meshfed agent install\`; a re-run overwrites local edits.\n${stringify(config)}`;
}

export const installRecordSchema = z.strictObject({
  version: z.string(),
  bundleSha256: z.string(),
  service: z.string(),
  serviceManager: z.enum(["systemd", "none"]),
  unitFile: z.string().optional(),
  /** Absent in records of earlier installs: none. The uninstaller removes the rules when transparent. */
  capture: z.enum(["transparent", "none"]).optional(),
});
export type InstallRecord = z.infer<typeof installRecordSchema>;

export function agentFiles(spec: AgentSpec, layout: AgentLayout, bundle: AgentBundle, caBundle: string, manager: ServiceManagerKind, capture: "transparent" | "none" = "none"): DesiredFile[] {
  const record: InstallRecord = {
    version: bundle.manifest.version,
    bundleSha256: bundle.manifest.sha256,
    service: serviceKey(spec.service),
    serviceManager: manager,
    ...(manager === "systemd" ? { unitFile: layout.unitFile } : {}),
    ...(capture === "transparent" ? { capture } : {}),
  };
  return [
    ...[...bundle.files].map(([file, content]) => ({ path: layout.bundlePath(file), content, mode: 0o644 })),
    { path: layout.config, content: Buffer.from(renderAgentConfig(spec, layout, capture)), mode: 0o644 },
    { path: layout.caFile, content: Buffer.from(caBundle), mode: 0o644 },
    { path: layout.record, content: Buffer.from(`${JSON.stringify(record, null, 2)}\n`), mode: 0o644 },
  ];
}

/** Directories to create before staging, with their modes. */
export function agentDirs(layout: AgentLayout, bundle: AgentBundle): { path: string; mode: number }[] {
  const bundleDirs = [...bundle.files.keys()].map((f) => posix.dirname(layout.bundlePath(f))).filter((d) => d !== layout.dir);
  return [{ path: layout.dir, mode: 0o755 }, ...[...new Set(bundleDirs)].map((path) => ({ path, mode: 0o755 })), { path: layout.dataDir, mode: 0o700 }];
}
