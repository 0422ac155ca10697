/**
 * The host's own resolvers, where the agent forwards every name that is not
 * a mesh name: the `nameserver` lines of resolv.conf-format text (the
 * backed-up original, or systemd-resolved's list of real upstreams in
 * /run/systemd/resolve/resolv.conf: resolver-hook.ts picks which). Our own listen address is never an
 * upstream: forwarding to ourselves would loop.
 */
import { isIP } from "node:net";

export interface Upstream {
  readonly host: string;
  readonly port: number;
}

export function parseNameservers(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split("\n")) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    // A scoped IPv6 address (fe80::1%eth0) carries its interface after "%".
    const host = m?.[1]?.split("%")[0];
    if (host !== undefined && isIP(host) !== 0) out.push(host);
  }
  return out;
}

/** By host, whatever the port: resolv.conf lines carry no port, so our own address may appear as <host> alone. */
export function upstreamsFrom(text: string, exclude: Upstream): Upstream[] {
  return parseNameservers(text)
    .filter((host) => host !== exclude.host)
    .map((host) => ({ host, port: 53 }));
}
