/**
 * How users declare a port's application protocol and a workload's identity
 * in the plain-text places meshfed reads (hosts file, agent flags and config,
 * Azure tags): pure parsers shared by the providers, the agent and
 * `meshfed validate`, so every edge accepts exactly the same spellings.
 */
import { APP_PROTOCOLS, isAppProtocol, type AppProtocol } from "./app-protocol.js";

export const PROTOCOL_CHOICES = APP_PROTOCOLS.join(", ");

/** Exact lower-case protocol names only: a typo must be an error, never silently "http". */
export function parseAppProtocol(text: string): AppProtocol | undefined {
  return isAppProtocol(text) ? text : undefined;
}

/**
 * `ADDRESS[/PROTOCOL]` → the address and the protocol. The address part
 * (IP:PORT or a bare port) never contains "/", so the last "/" separates.
 * `protocol` is undefined when none is written; `bad` is the unknown name.
 */
export function splitProtocolSuffix(text: string): { address: string; protocol?: AppProtocol; bad?: string } {
  const slash = text.lastIndexOf("/");
  if (slash < 0) return { address: text };
  const address = text.slice(0, slash);
  const name = text.slice(slash + 1).trim().toLowerCase();
  const protocol = parseAppProtocol(name);
  return protocol === undefined ? { address, bad: name } : { address, protocol };
}

// Kubernetes ServiceAccount names are DNS-1123 subdomains: lower-case
// labels joined by dots, 253 characters at most.
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export function isServiceAccountName(value: string): boolean {
  return value.length <= 253 && DNS_SUBDOMAIN.test(value) && value.split(".").every((l) => l.length <= 63);
}
