/**
 * Re-installing against a controller with another CA (issue 16 item 2): a
 * controller rebuilt with a new data directory, or the host moved to another
 * mesh. The agent's data directory then holds a proxy certificate that the
 * controller's CA did not sign; kept, it would win over anything the
 * installer uploads (the agent pins the CA bundle it received at enrollment,
 * not the installed ca.pem) and the agent would never connect.
 *
 * So the installer compares the proxy certificate on the host with the
 * controller's CA bundle (the same bundle it installs). Not signed by any of
 * its roots: the data directory is set aside (data.previous), a join token is
 * uploaded and the agent enrolls afresh. If the install then fails, the
 * previous directory is put back, so the host is no worse off than before
 * (its old controller may come back); once connected it is removed.
 * During a root rotation the bundle carries both roots, so an agent that
 * renewed, or has yet to renew, is never re-enrolled by mistake.
 */
import { X509Certificate } from "node:crypto";
import { z } from "zod";
import { MeshfedError } from "../common/errors.js";
import type { AgentLayout } from "./layout.js";
import { REMOTE_FILE_ERROR } from "./remote-files.js";
import { shellQuote as q, type RemoteShell } from "./remote-shell.js";
import type { ServiceManager } from "./service-manager.js";

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g;
const identitySchema = z.object({ certificatePem: z.string().min(1) });

/** The agent's current proxy certificate (a renewal's, else the enrollment's); undefined when there is none. */
export async function proxyCertificateOnHost(shell: RemoteShell, layout: AgentLayout): Promise<string | undefined> {
  const r = await shell.run([
    `if [ -f ${q(layout.proxyIdentityFile)} ]; then echo identity; cat ${q(layout.proxyIdentityFile)};`,
    `elif [ -f ${q(layout.proxyCertFile)} ]; then echo pem; cat ${q(layout.proxyCertFile)};`,
    "else exit 3; fi",
  ].join("\n"));
  if (r.code === 3) return undefined;
  if (r.code !== 0) throw new MeshfedError(REMOTE_FILE_ERROR, `reading the agent's proxy certificate failed (exit ${r.code}): ${r.stderr.trim()}`);
  const nl = r.stdout.indexOf("\n");
  const kind = r.stdout.slice(0, nl);
  const body = r.stdout.slice(nl + 1);
  if (kind === "pem") return body;
  try {
    return identitySchema.parse(JSON.parse(body)).certificatePem;
  } catch {
    return undefined; // unreadable: the agent itself will say so; not a reason to re-enroll
  }
}

/** Whether one of the bundle's roots signed the certificate. Unparseable input counts as not signed. */
export function signedByBundle(certificatePem: string, bundlePem: string): boolean {
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(certificatePem);
  } catch {
    return false;
  }
  for (const block of bundlePem.match(PEM_BLOCK) ?? []) {
    try {
      const root = new X509Certificate(block);
      if (leaf.checkIssued(root) && leaf.verify(root.publicKey)) return true;
    } catch {
      // a block that does not parse signs nothing
    }
  }
  return false;
}

/** Stops the agent and moves its data directory aside (replacing an older set-aside copy). */
export async function setAsideEnrollment(shell: RemoteShell, manager: ServiceManager, layout: AgentLayout): Promise<void> {
  await manager.stop(shell);
  const r = await shell.run(`rm -rf -- ${q(layout.previousDataDir)} && mv -- ${q(layout.dataDir)} ${q(layout.previousDataDir)} && mkdir -m 0700 -- ${q(layout.dataDir)}`);
  if (r.code !== 0) throw new MeshfedError(REMOTE_FILE_ERROR, `setting the previous enrollment aside failed (exit ${r.code}): ${r.stderr.trim()}`);
}

/** Stops the agent, puts the set-aside data directory back and starts the agent on it. */
export async function restoreEnrollment(shell: RemoteShell, manager: ServiceManager, layout: AgentLayout): Promise<void> {
  await manager.stop(shell);
  const r = await shell.run(`[ -d ${q(layout.previousDataDir)} ] && rm -rf -- ${q(layout.dataDir)} && mv -- ${q(layout.previousDataDir)} ${q(layout.dataDir)} && rm -f -- ${q(layout.tokenFile)}`);
  if (r.code !== 0) throw new MeshfedError(REMOTE_FILE_ERROR, `restoring the previous enrollment failed (exit ${r.code}): ${r.stderr.trim()}`);
  await manager.restart(shell);
}
