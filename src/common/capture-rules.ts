/**
 * The nat rules of transparent capture (DESIGN.md §3 flow 6, docs/dataplane.md
 * "Capture"), as pure text: the VM agent applies them with iptables-restore,
 * the pod init container runs the same text. One renderer for both, so a pod
 * and a VM capture exactly alike.
 *
 * Every rule is written the way `iptables-save` prints it back (option order,
 * `/32`, `-m tcp`), so the agent can read the table back and compare its
 * chains line for line with what it meant to install.
 *
 * IPv4 only: Pipy's transparent listener reads the original destination with
 * SO_ORIGINAL_DST, which is IPv4 (PIPY-NOTES.md); IPv6 is left uncaptured and
 * documented so.
 */
import { isIP } from "node:net";
import { MeshfedError } from "./errors.js";

export const OUTPUT_CHAIN = "MESHFED_OUTPUT";
export const INBOUND_CHAIN = "MESHFED_INBOUND";
/** Pipy's transparent outbound listener (127.0.0.1), shared contract. */
export const DEFAULT_OUTBOUND_PORT = 15002;
/** A local endpoint ip:P has its mTLS inbound listener at ip:(P + offset). */
export const DEFAULT_INBOUND_OFFSET = 10000;
/** The jumps from the built-in chains into ours; removal deletes exactly these. */
export const OUTPUT_JUMP = `-A OUTPUT -p tcp -j ${OUTPUT_CHAIN}`;
export const INBOUND_JUMP = `-A PREROUTING -p tcp -j ${INBOUND_CHAIN}`;
/** iptables' multiport match takes at most 15 ports per rule. */
const MULTIPORT_MAX = 15;

export interface CaptureRuleOptions {
  /** The uid Pipy runs as: its own connections are never redirected. */
  readonly proxyUid: number;
  readonly outboundPort: number;
  readonly inboundOffset: number;
  /** Local mesh ports P whose traffic from other hosts goes to P + inboundOffset. */
  readonly inboundPorts: readonly number[];
  readonly excludeInboundPorts: readonly number[];
  /** The controller's addresses (IPv4; others are ignored): the agent's own stream is never redirected. */
  readonly controllerAddresses: readonly string[];
  readonly excludeOutboundIPRanges: readonly string[];
  readonly excludeOutboundPorts: readonly number[];
  /** Non-empty: only TCP to these ranges (or to includeOutboundPorts) is redirected. */
  readonly includeOutboundIPRanges: readonly string[];
  /** Non-empty: only TCP to these ports (or to includeOutboundIPRanges) is redirected. */
  readonly includeOutboundPorts: readonly number[];
}

/** `10.0.0.0/8`, `10.1.2.3` (→ /32); IPv4 only. Throws MESHFED_CAPTURE_INVALID. */
export function ipv4Cidr(text: string): string {
  const [ip, bits, ...rest] = text.trim().split("/");
  const prefix = bits === undefined ? 32 : Number(bits);
  if (rest.length > 0 || ip === undefined || isIP(ip) !== 4 || !Number.isInteger(prefix) || prefix < 0 || prefix > 32 || (bits !== undefined && !/^\d+$/.test(bits))) {
    throw new MeshfedError("MESHFED_CAPTURE_INVALID", `"${text}" is not an IPv4 address or CIDR range (IPv6 is not captured yet)`);
  }
  // iptables prints the network address: 10.1.2.3/8 comes back as 10.0.0.0/8.
  const n = ip.split(".").reduce((acc, o) => acc * 256 + Number(o), 0);
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  const net = (n & mask) >>> 0;
  return `${[net >>> 24, (net >>> 16) & 255, (net >>> 8) & 255, net & 255].join(".")}/${prefix}`;
}

function port(p: number, what: string): number {
  if (!Number.isInteger(p) || p < 1 || p > 65535) throw new MeshfedError("MESHFED_CAPTURE_INVALID", `${what} ${p} is not a TCP port`);
  return p;
}

function uniqueSorted(values: readonly number[]): number[] {
  return [...new Set(values)].sort((a, b) => a - b);
}

function uniqueInOrder(values: readonly string[]): string[] {
  return [...new Set(values)];
}

function multiport(ports: readonly number[], target: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < ports.length; i += MULTIPORT_MAX) {
    const chunk = ports.slice(i, i + MULTIPORT_MAX);
    out.push(chunk.length === 1
      ? `-p tcp -m tcp --dport ${chunk[0]} -j ${target}`
      : `-p tcp -m multiport --dports ${chunk.join(",")} -j ${target}`);
  }
  return out;
}

/** The rules of MESHFED_OUTPUT, each as `-A MESHFED_OUTPUT ...`. */
export function outputChainRules(o: CaptureRuleOptions): string[] {
  const redirect = `REDIRECT --to-ports ${port(o.outboundPort, "outbound port")}`;
  if (!Number.isInteger(o.proxyUid) || o.proxyUid < 0) throw new MeshfedError("MESHFED_CAPTURE_INVALID", `proxy uid ${o.proxyUid} is not a uid`);
  const rules = [
    // Pipy's own connections (to peers, to the original destination) must leave as they are.
    `-m owner --uid-owner ${o.proxyUid} -j RETURN`,
    `-d 127.0.0.0/8 -j RETURN`,
    ...uniqueInOrder(o.controllerAddresses.filter((a) => isIP(a) === 4).map(ipv4Cidr)).map((c) => `-d ${c} -j RETURN`),
    ...uniqueInOrder(o.excludeOutboundIPRanges.map(ipv4Cidr)).map((c) => `-d ${c} -j RETURN`),
    ...multiport(uniqueSorted(o.excludeOutboundPorts.map((p) => port(p, "excluded outbound port"))), "RETURN"),
  ];
  const includePorts = uniqueSorted(o.includeOutboundPorts.map((p) => port(p, "included outbound port")));
  const includeRanges = uniqueInOrder(o.includeOutboundIPRanges.map(ipv4Cidr));
  if (includePorts.length === 0 && includeRanges.length === 0) {
    rules.push(`-p tcp -j ${redirect}`);
  } else {
    // osm-edge's semantics: traffic matching either include list is redirected, the rest is not.
    rules.push(...multiport(includePorts, redirect));
    rules.push(...includeRanges.map((c) => `-d ${c} -p tcp -j ${redirect}`));
    rules.push("-j RETURN");
  }
  return rules.map((r) => `-A ${OUTPUT_CHAIN} ${r}`);
}

/** The rules of MESHFED_INBOUND, each as `-A MESHFED_INBOUND ...`; nothing for an excluded port or one whose P + offset passes 65535. */
export function inboundChainRules(o: CaptureRuleOptions): string[] {
  const excluded = new Set(o.excludeInboundPorts.map((p) => port(p, "excluded inbound port")));
  return uniqueSorted(o.inboundPorts.map((p) => port(p, "inbound port")))
    .filter((p) => !excluded.has(p) && p + o.inboundOffset <= 65535)
    .map((p) => `-A ${INBOUND_CHAIN} -p tcp -m tcp --dport ${p} -j REDIRECT --to-ports ${p + o.inboundOffset}`);
}

export interface RestoreOptions {
  /** Whether OUTPUT jumps into MESHFED_OUTPUT (false while Pipy is not ready: outbound fails open). */
  readonly outboundActive: boolean;
  /** Jump lines currently in the table (`-A OUTPUT ... -j MESHFED_OUTPUT` as iptables-save prints them), each deleted once. */
  readonly staleJumps: readonly string[];
}

/**
 * Input for `iptables-restore --noflush`: one transaction for the nat table.
 * A `:CHAIN` line creates the chain or, with --noflush, empties it, so the
 * chains end up holding exactly these rules whatever was there before; every
 * jump found is deleted and one is added back, so a crash between two
 * applies can never leave two.
 */
export function captureRestoreInput(o: CaptureRuleOptions, r: RestoreOptions): string {
  const lines = [
    "*nat",
    `:${INBOUND_CHAIN} - [0:0]`,
    `:${OUTPUT_CHAIN} - [0:0]`,
    ...r.staleJumps.map((j) => j.replace(/^-A /, "-D ")),
    INBOUND_JUMP,
    ...(r.outboundActive ? [OUTPUT_JUMP] : []),
    ...inboundChainRules(o),
    ...outputChainRules(o),
    "COMMIT",
  ];
  return `${lines.join("\n")}\n`;
}

/** Input for `iptables-restore --noflush` that deletes the jumps found and both chains. */
export function removalRestoreInput(staleJumps: readonly string[]): string {
  const lines = [
    "*nat",
    // Declared first so that -X never fails on a chain a half-written set lacks.
    `:${INBOUND_CHAIN} - [0:0]`,
    `:${OUTPUT_CHAIN} - [0:0]`,
    ...staleJumps.map((j) => j.replace(/^-A /, "-D ")),
    `-X ${INBOUND_CHAIN}`,
    `-X ${OUTPUT_CHAIN}`,
    "COMMIT",
  ];
  return `${lines.join("\n")}\n`;
}

/** What of ours a `iptables-save -t nat` text holds. */
export interface CaptureTableState {
  readonly chains: ReadonlySet<string>;
  /** Lines that jump into our chains from anywhere else. */
  readonly jumps: readonly string[];
  readonly outputJumps: number;
  readonly inboundJumps: number;
  /** The `-A` lines of each of our chains, in order. */
  readonly rules: ReadonlyMap<string, readonly string[]>;
}

export function readCaptureState(save: string): CaptureTableState {
  const chains = new Set<string>();
  const jumps: string[] = [];
  const rules = new Map<string, string[]>([[INBOUND_CHAIN, []], [OUTPUT_CHAIN, []]]);
  let inNat = false;
  for (const raw of save.split("\n")) {
    const line = raw.trimEnd();
    if (line.startsWith("*")) inNat = line === "*nat";
    if (!inNat) continue;
    const decl = /^:(\S+) /.exec(line);
    if (decl && rules.has(decl[1]!)) chains.add(decl[1]!);
    const rule = /^-A (\S+) /.exec(line);
    if (!rule) continue;
    const own = rules.get(rule[1]!);
    if (own) own.push(line);
    else if (new RegExp(`-j (${INBOUND_CHAIN}|${OUTPUT_CHAIN})$`).test(line)) jumps.push(line);
  }
  return {
    chains, jumps, rules,
    outputJumps: jumps.filter((j) => j.endsWith(`-j ${OUTPUT_CHAIN}`)).length,
    inboundJumps: jumps.filter((j) => j.endsWith(`-j ${INBOUND_CHAIN}`)).length,
  };
}
