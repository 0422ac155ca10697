/**
 * What to install where: from `--host user@address[:port] --service ns/name`
 * or from the on-prem hosts file (the same file the controller's on-prem
 * provider reads; each host's optional `ssh: {user, port, key}` says how to
 * reach it). One job per (host, service): a host with two services gets two
 * agents, each in its own directory with its own loopback repo port.
 */
import type { CaptureChoice } from "./capture.js";
import { readFile } from "node:fs/promises";
import { isIP } from "node:net";
import { homedir } from "node:os";
import { join } from "node:path";
import { formatHostPort, parseHostPort } from "../common/address.js";
import { MeshfedError } from "../common/errors.js";
import { parseServiceKey, serviceKey, type ServiceRef } from "../common/service.js";
import { parseHostsFile } from "../controller/providers/onprem/hosts-file.js";
import type { HostKeyPolicy } from "./known-hosts.js";
import type { SshTarget } from "./ssh-session.js";
import type { AgentSpec } from "./types.js";

export const TARGET_ERRORS = { host: "MESHFED_INSTALL_BAD_HOST", inventory: "MESHFED_INSTALL_BAD_INVENTORY" } as const;

export interface InstallJob {
  readonly host: string;
  readonly target: SshTarget;
  readonly spec: AgentSpec;
}

/** Agent settings given once on the command line for every job. */
export interface CommonAgentSettings {
  readonly controller: readonly string[];
  readonly pipy?: string;
  /** Repo address of the first agent on a host; later agents on the same host take the next ports (and so do their Pipy admin ports, from 6060). */
  readonly repoAddress: string;
  readonly logLevel: string;
  /** Transparent capture: auto (when the host can), transparent or none. */
  readonly capture?: CaptureChoice;
  /** How agents enroll the first time: a join token minted per host (default) or the Azure IMDS attested document. */
  readonly bootstrap?: "token" | "azure-imds";
}

export interface SshSettings {
  readonly identityFile?: string;
  readonly hostKeys: HostKeyPolicy;
  readonly connectTimeoutMs?: number;
}

export function expandHome(path: string): string {
  return path === "~" ? homedir() : path.startsWith("~/") ? join(homedir(), path.slice(2)) : path;
}

/** `user@address[:port]`, `user@[v6]:port`; the port defaults to 22. */
export function parseSshHost(text: string): { user: string; host: string; port: number } {
  const at = text.lastIndexOf("@");
  const user = text.slice(0, at);
  const rest = text.slice(at + 1);
  if (at <= 0 || rest === "") throw new MeshfedError(TARGET_ERRORS.host, `--host "${text}" is not user@address[:port]`);
  if (/^\[.*\]$/.test(rest) || !rest.includes(":")) return { user, host: rest.replace(/^\[|\]$/g, ""), port: 22 };
  const { host, port } = parseHostPort(rest, "--host");
  if (port === 0) throw new MeshfedError(TARGET_ERRORS.host, `--host "${text}": port 0 is not a port`);
  return { user, host, port };
}

const PIPY_ADMIN_BASE = "127.0.0.1:6060";

function addressFor(base: string, index: number): string {
  const { host, port } = parseHostPort(base, "address");
  // Port 0 (any free port) needs no offset.
  return port === 0 ? base : formatHostPort({ host, port: port + index });
}

export function jobFromFlags(host: string, service: string, endpoints: readonly string[], common: CommonAgentSettings, ssh: SshSettings): InstallJob {
  const parsed = parseSshHost(host);
  const ref = parseServiceKey(service);
  return {
    host: parsed.host,
    target: { host: parsed.host, port: parsed.port, user: parsed.user, ...ssh },
    spec: { ...common, service: ref, endpoints, ...(isIP(parsed.host) !== 0 ? { hostAddresses: [parsed.host] } : {}) },
  };
}

/** One job per service of every host that has `ssh:`; hosts without it are returned as skipped. */
export async function jobsFromInventory(file: string, common: CommonAgentSettings, ssh: SshSettings): Promise<{ jobs: InstallJob[]; skipped: string[] }> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    throw new MeshfedError(TARGET_ERRORS.inventory, `cannot read the inventory ${file}: ${(err as Error).message}`, { cause: err });
  }
  const hosts = parseHostsFile(text, file).hosts;
  const jobs: InstallJob[] = [];
  const skipped: string[] = [];
  for (const host of hosts) {
    if (host.ssh === undefined || host.services.length === 0) {
      skipped.push(host.name);
      continue;
    }
    // One agent per service; a service listed with several ports announces them all.
    const services = new Map<string, { ref: ServiceRef; ports: Array<{ port: number; protocol?: string }> }>();
    for (const s of host.services) {
      const key = serviceKey(s);
      const entry = services.get(key) ?? { ref: { namespace: s.namespace, name: s.name }, ports: [] };
      // The agent declares the port's protocol as the hosts file does (IP:PORT/PROTOCOL).
      entry.ports.push({ port: s.port, ...(s.protocol === undefined ? {} : { protocol: s.protocol }) });
      services.set(key, entry);
    }
    const key = host.ssh.key ?? ssh.identityFile;
    [...services.values()].forEach(({ ref, ports }, index) => {
      jobs.push({
        host: host.name,
        target: { host: host.address, port: host.ssh!.port, user: host.ssh!.user, ...ssh, ...(key !== undefined ? { identityFile: expandHome(key) } : {}) },
        spec: {
          ...common,
          service: ref,
          endpoints: ports.map(({ port, protocol }) => `${formatHostPort({ host: host.address, port })}${protocol === undefined ? "" : `/${protocol}`}`),
          hostAddresses: [host.address],
          ...(services.size > 1 ? { sharedHost: true } : {}),
          // Each agent on a host needs its own loopback ports: the repo's and its Pipy's admin port.
          repoAddress: addressFor(common.repoAddress, index),
          ...(index > 0 ? { pipyAdminAddress: addressFor(PIPY_ADMIN_BASE, index) } : {}),
        },
      });
    });
  }
  return { jobs, skipped };
}
