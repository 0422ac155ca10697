import { isIP } from "node:net";
import { MeshfedError } from "./errors.js";

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/** Parses `host:port` or `[v6]:port`; port 0 (pick any) is allowed for tests. */
export function parseHostPort(text: string, what = "address"): HostPort {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text.trim());
  const host = m?.[1] ?? m?.[2];
  const port = Number(m?.[3]);
  if (!m || host === undefined || !Number.isInteger(port) || port > 65535) {
    throw new MeshfedError("MESHFED_INVALID_ADDRESS", `${what} "${text}" is not host:port (e.g. 127.0.0.1:15000 or [::1]:15000)`);
  }
  return { host, port };
}

export function formatHostPort({ host, port }: HostPort): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Loopback means reachable from this machine only: 127.0.0.0/8, ::1, "localhost". */
export function isLoopback(host: string): boolean {
  if (host === "localhost" || host === "::1") return true;
  if (isIP(host) === 4) return host.startsWith("127.");
  if (host.toLowerCase().startsWith("::ffff:")) return isLoopback(host.slice(7));
  return false;
}
