/**
 * Install, upgrade or repair one agent on one host (already connected and
 * probed). Plan: hash what is on the host and compare with what should be;
 * apply only the difference: upload (staged, then renamed together), a join
 * token only when the agent never enrolled or enrolled with another CA
 * (re-enroll.ts), restart, then wait until the controller reports the proxy
 * connected, or the agent reports that it and the controller do not share a
 * CA (MESHFED_AGENT_CA_MISMATCH, at once rather than after the timeout).
 *
 * Failure handling: an upload that fails leaves the old files (staged copies
 * are discarded); a fresh install that fails later is rolled back entirely;
 * a re-enrollment that fails gets its previous data directory back; an
 * upgrade that fails after the files were replaced says what is left.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { z } from "zod";
import { MeshfedError, errorMessage } from "../common/errors.js";
import { serviceKey } from "../common/service.js";
import { agentDirs, agentFiles, sha256 } from "./agent-files.js";
import { decideCapture, ensureProxyUser } from "./capture.js";
import type { AgentBundle } from "./bundle.js";
import { agentLayout, type AgentLayout } from "./layout.js";
import type { HostFacts } from "./probe.js";
import { CA_MISMATCH } from "../agent/ca-mismatch.js";
import { proxyCertificateOnHost, restoreEnrollment, setAsideEnrollment, signedByBundle } from "./re-enroll.js";
import { applyFiles, remoteStatus, removeRemote } from "./remote-files.js";
import type { RemoteShell } from "./remote-shell.js";
import { createServiceManager } from "./service-factory.js";
import type { ServiceManager } from "./service-manager.js";
import type { AgentResult, AgentSpec, ControllerAdmin, InstallOptions, StepReporter } from "./types.js";

export const INSTALL_ERRORS = {
  notConnected: "MESHFED_INSTALL_NOT_CONNECTED",
  agentExited: "MESHFED_INSTALL_AGENT_EXITED",
  failed: "MESHFED_INSTALL_FAILED",
} as const;

const POLL_MS = 300;
const stateSchema = z.object({ proxyId: z.string().min(1) });
const verdictSchema = z.object({ code: z.string(), message: z.string() });

export interface InstallContext {
  readonly admin: ControllerAdmin;
  readonly bundle: AgentBundle;
  readonly caBundle: string;
  readonly report: StepReporter;
  readonly signal?: AbortSignal;
}

export async function installAgent(shell: RemoteShell, facts: HostFacts, spec: AgentSpec, options: InstallOptions, ctx: InstallContext): Promise<AgentResult> {
  const layout = agentLayout(options.installRoot, spec.service, options.unitDir);
  const capture = decideCapture(spec, facts);
  const manager = createServiceManager(options.serviceManager, facts, { layout, node: options.node, service: serviceKey(spec.service), capture: capture.mode === "transparent" });
  ctx.report("plan");
  const desired = [...agentFiles(spec, layout, ctx.bundle, ctx.caBundle, manager.kind, capture.mode), ...manager.files()];
  const captureNote = `${capture.mode} (${capture.reason})`;
  const onHost = await remoteStatus(shell, desired.map((f) => f.path), layout.stateFile, manager.runningTest);
  const changed = desired.filter((f) => onHost.hashes.get(f.path) !== sha256(f.content));
  const fresh = !onHost.hashes.has(layout.record);
  const enrolledAs = proxyIdOf(onHost.state);
  const bundleChanged = changed.some((f) => f.path === layout.script);

  if (changed.length === 0 && enrolledAs !== undefined && onHost.running) {
    ctx.report("check");
    if (await ctx.admin.isConnected(enrolledAs)) return { outcome: "unchanged", proxyId: enrolledAs, version: ctx.bundle.manifest.version, capture: captureNote };
  }

  // Enrolled under a CA this controller does not have: that enrollment can never connect here.
  const foreign = enrolledAs !== undefined && !signedByBundle((await proxyCertificateOnHost(shell, layout)) ?? "", ctx.caBundle);
  let upload = changed;
  // An agent that enrolls by IMDS attestation needs no token (docs/azure.md "Joining without a token").
  if ((onHost.state === undefined || foreign) && spec.bootstrap !== "azure-imds") {
    ctx.report("token");
    // Single use and short-lived: it only has to last until the agent's first start.
    upload = [...changed, { path: layout.tokenFile, content: Buffer.from(`${await ctx.admin.createToken(spec.service)}\n`), mode: 0o600 }];
  }
  try {
    if (upload.length > 0) {
      ctx.report("upload");
      await applyFiles(shell, options.node, agentDirs(layout, ctx.bundle), upload);
    }
  } catch (err) {
    if (fresh) await removeRemote(shell, [layout.dir]).catch(() => undefined);
    throw new MeshfedError(errorCodeOf(err), `${errorMessage(err)} (nothing was changed on the host)`, { cause: err });
  }
  try {
    if (foreign) {
      ctx.report("re-enroll");
      await setAsideEnrollment(shell, manager, layout);
    }
    if (capture.mode === "transparent") {
      ctx.report("user");
      await ensureProxyUser(shell);
    }
    ctx.report("start");
    await manager.prepare(shell);
    await manager.restart(shell);
    ctx.report("wait");
    const proxyId = await waitConnected(shell, manager, layout, ctx, options.connectTimeoutMs);
    // The token was single-use and is spent; no reason to leave a secret on disk.
    await removeRemote(shell, [layout.tokenFile, ...(foreign ? [layout.previousDataDir] : [])]);
    const outcome = foreign ? "re-enrolled" : fresh ? "installed" : bundleChanged ? "upgraded" : changed.length > 0 ? "updated" : "restarted";
    return { outcome, proxyId, version: ctx.bundle.manifest.version, capture: captureNote };
  } catch (err) {
    throw await afterFailure(shell, manager, layout, fresh, err, foreign ? enrolledAs : undefined);
  }
}

async function afterFailure(shell: RemoteShell, manager: ServiceManager, layout: AgentLayout, fresh: boolean, err: unknown, previousProxyId?: string): Promise<MeshfedError> {
  const code = errorCodeOf(err);
  if (previousProxyId !== undefined) {
    try {
      await restoreEnrollment(shell, manager, layout);
      return new MeshfedError(code, `${errorMessage(err)} (rolled back: the previous enrollment, proxy ${previousProxyId}, is restored and the agent restarted on it; the new files in ${layout.dir} are left)`, { cause: err });
    } catch (restore) {
      return new MeshfedError(code, `${errorMessage(err)}; restoring the previous enrollment failed too (${errorMessage(restore)}): it may be left in ${layout.previousDataDir}`, { cause: err });
    }
  }
  if (fresh) {
    try {
      await manager.remove(shell);
      await removeRemote(shell, [layout.dir]);
      return new MeshfedError(code, `${errorMessage(err)} (rolled back: nothing is left on the host)`, { cause: err });
    } catch (cleanup) {
      return new MeshfedError(code, `${errorMessage(err)}; the rollback failed too (${errorMessage(cleanup)}): ${layout.dir} may be left, remove it with meshfed agent uninstall`, { cause: err });
    }
  }
  const running = await manager.isRunning(shell).catch(() => false);
  return new MeshfedError(code, `${errorMessage(err)} (left on the host: the new files in ${layout.dir}, the agent ${running ? "running" : "stopped"})`, { cause: err });
}

function errorCodeOf(err: unknown): string {
  return err instanceof MeshfedError ? err.code : INSTALL_ERRORS.failed;
}

function proxyIdOf(state: string | undefined): string | undefined {
  if (state === undefined) return undefined;
  try {
    const parsed = stateSchema.safeParse(JSON.parse(state));
    return parsed.success ? parsed.data.proxyId : undefined;
  } catch {
    return undefined; // half-written or foreign: treated as not enrolled yet
  }
}

/** Until the agent has enrolled (state.json) and the controller lists its proxy as connected. */
async function waitConnected(shell: RemoteShell, manager: ServiceManager, layout: AgentLayout, ctx: InstallContext, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = await remoteStatus(shell, [], layout.stateFile, manager.runningTest, layout.trustFailureFile);
    const proxyId = proxyIdOf(status.state);
    if (proxyId !== undefined && (await ctx.admin.isConnected(proxyId))) return proxyId;
    const mismatch = verdictOf(status.trustFailure);
    if (mismatch !== undefined) throw new MeshfedError(CA_MISMATCH, mismatch, { details: { file: layout.trustFailureFile } });
    if (!status.running) {
      const log = await manager.logTail(shell).catch(() => "");
      throw new MeshfedError(INSTALL_ERRORS.agentExited, `the agent exited after start${lastLine(log)}`, { details: { log } });
    }
    if (Date.now() >= deadline) {
      const log = await manager.logTail(shell).catch(() => "");
      const where = proxyId === undefined ? "it did not enroll" : `proxy ${proxyId} enrolled but is not connected`;
      throw new MeshfedError(INSTALL_ERRORS.notConnected, `the controller did not report the agent connected within ${Math.round(timeoutMs / 1000)}s: ${where}${lastLine(log)}`, { details: { log } });
    }
    await sleep(POLL_MS, undefined, ctx.signal ? { signal: ctx.signal } : {});
  }
}

/** The agent's CA-mismatch message, when its verdict file says so. */
function verdictOf(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  try {
    const v = verdictSchema.parse(JSON.parse(text));
    return v.code === CA_MISMATCH ? v.message : undefined;
  } catch {
    return undefined; // half-written: read again on the next poll
  }
}

/** The agent prints its refusal as `meshfed agent: <CODE>: <details>`; that line says most. */
function lastLine(log: string): string {
  const lines = log.split("\n").map((l) => l.trim()).filter((l) => l !== "");
  const line = lines.findLast((l) => l.startsWith("meshfed agent:")) ?? lines.at(-1);
  return line === undefined ? "" : `; agent log: ${line.slice(0, 300)}`;
}

