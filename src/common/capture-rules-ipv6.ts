/**
 * The IPv6 side of inbound enforcement on a VM (docs/dataplane.md "IPv6").
 * Capture is IPv4 (Pipy reads the original destination with SO_ORIGINAL_DST,
 * and its mTLS inbound listeners are IPv4), but an app listening on `::`
 * answers IPv6 too: without this, any host with an IPv6 route to it would
 * reach the app's mesh port in plaintext, around MESHFED_INBOUND. So the
 * agent owns one filter chain in ip6tables that refuses other hosts' TCP to
 * exactly the ports MESHFED_INBOUND redirects (a TCP reset, so clients fail
 * fast and may retry over IPv4). Loopback is left alone, as for IPv4.
 *
 * Written the way `ip6tables-save` prints it back, to be compared line by line.
 */
import { inboundChainRules, type CaptureRuleOptions } from "./capture-rules.js";

export const INBOUND6_CHAIN = "MESHFED_INBOUND6";
export const INBOUND6_JUMP = `-A INPUT ! -i lo -p tcp -j ${INBOUND6_CHAIN}`;

/** The `-A MESHFED_INBOUND6 ...` lines: a reset for each port MESHFED_INBOUND redirects. */
export function inbound6ChainRules(o: CaptureRuleOptions): string[] {
  return inboundChainRules(o).map((rule) => {
    const port = /--dport (\d+) /.exec(rule)![1];
    return `-A ${INBOUND6_CHAIN} -p tcp -m tcp --dport ${port} -j REJECT --reject-with tcp-reset`;
  });
}

/** One `ip6tables-restore --noflush` transaction: the chain emptied and refilled, every jump found deleted, one added. */
export function inbound6RestoreInput(o: CaptureRuleOptions, staleJumps: readonly string[]): string {
  return [
    "*filter",
    `:${INBOUND6_CHAIN} - [0:0]`,
    ...staleJumps.map((j) => j.replace(/^-A /, "-D ")),
    INBOUND6_JUMP,
    ...inbound6ChainRules(o),
    "COMMIT",
  ].join("\n") + "\n";
}

export function inbound6RemovalInput(staleJumps: readonly string[]): string {
  return [
    "*filter",
    `:${INBOUND6_CHAIN} - [0:0]`,
    ...staleJumps.map((j) => j.replace(/^-A /, "-D ")),
    `-X ${INBOUND6_CHAIN}`,
    "COMMIT",
  ].join("\n") + "\n";
}

export interface Inbound6State {
  readonly chain: boolean;
  readonly jumps: readonly string[];
  readonly rules: readonly string[];
}

/** What of ours an `ip6tables-save -t filter` text holds. */
export function readInbound6State(save: string): Inbound6State {
  let chain = false;
  const jumps: string[] = [];
  const rules: string[] = [];
  let inFilter = false;
  for (const raw of save.split("\n")) {
    const line = raw.trimEnd();
    if (line.startsWith("*")) inFilter = line === "*filter";
    if (!inFilter) continue;
    if (line.startsWith(`:${INBOUND6_CHAIN} `)) chain = true;
    if (line.startsWith(`-A ${INBOUND6_CHAIN} `)) rules.push(line);
    else if (line.startsWith("-A ") && line.endsWith(`-j ${INBOUND6_CHAIN}`)) jumps.push(line);
  }
  return { chain, jumps, rules };
}

/** True when the state is exactly what `o` asks for. */
export function inbound6Matches(s: Inbound6State, o: CaptureRuleOptions): boolean {
  const want = inbound6ChainRules(o);
  return s.chain && s.jumps.length === 1 && s.jumps[0] === INBOUND6_JUMP && s.rules.length === want.length && s.rules.every((r, i) => r === want[i]);
}
