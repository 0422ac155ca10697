/**
 * Value parsers for osm-edge's policy fields, pure and total: each returns the
 * normalised value or undefined (the caller names the field in its error).
 */
import { isIP } from "node:net";
import { isDnsLabel } from "../../common/service.js";

const GO_UNIT_MS: Readonly<Record<string, number>> = { ns: 1e-6, us: 1e-3, "µs": 1e-3, "μs": 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const GO_PART = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/gy;

/**
 * A Go `time.ParseDuration` string (what osm-edge's metav1.Duration fields
 * hold: "1s", "500ms", "1m30s", "1.5h", "0") in milliseconds; sub-millisecond
 * parts stay fractional. Negative durations are refused: no policy setting
 * means anything with one. Days ("1d") are not Go and are refused too, so an
 * object that loads here also loads in osm-edge.
 */
export function parseGoDurationMs(text: string): number | undefined {
  if (text === "0") return 0;
  let total = 0;
  GO_PART.lastIndex = 0;
  let consumed = 0;
  for (let m = GO_PART.exec(text); m !== null; m = GO_PART.exec(text)) {
    total += Number(m[1]) * GO_UNIT_MS[m[2]!]!;
    consumed = GO_PART.lastIndex;
  }
  if (text.length === 0 || consumed !== text.length || !Number.isFinite(total)) return undefined;
  // Float noise from the sub-ms units ("1.1ms" -> 1.1000000000000003).
  return Math.round(total * 1e6) / 1e6;
}

/**
 * A CIDR normalised: host bits cleared, IPv6 in its canonical compressed
 * lower-case form; a bare address becomes a /32 or /128. Undefined when it is
 * no address or the prefix is out of range.
 */
export function normaliseCidr(text: string): string | undefined {
  const slash = text.indexOf("/");
  const addr = slash < 0 ? text : text.slice(0, slash);
  const family = isIP(addr);
  if (family === 0) return undefined;
  const max = family === 4 ? 32 : 128;
  const prefixText = slash < 0 ? String(max) : text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(prefixText)) return undefined;
  const prefix = Number(prefixText);
  if (prefix > max) return undefined;
  if (family === 4) {
    const bits = addr.split(".").reduce((n, o) => (n << 8n) | BigInt(Number(o)), 0n);
    const masked = mask(bits, prefix, 32);
    return `${[24n, 16n, 8n, 0n].map((s) => String((masked >> s) & 255n)).join(".")}/${prefix}`;
  }
  const masked = mask(ipv6ToBigInt(addr), prefix, 128);
  const hextets = Array.from({ length: 8 }, (_, i) => ((masked >> BigInt(112 - 16 * i)) & 0xffffn).toString(16));
  // The URL parser prints an IPv6 address in RFC 5952 form (zero runs compressed, lower case).
  return `${new URL(`http://[${hextets.join(":")}]/`).hostname.slice(1, -1)}/${prefix}`;
}

function mask(bits: bigint, prefix: number, width: number): bigint {
  const keep = prefix === 0 ? 0n : ((1n << BigInt(prefix)) - 1n) << BigInt(width - prefix);
  return bits & keep;
}

function ipv6ToBigInt(addr: string): bigint {
  // Canonicalise first: this also expands an embedded IPv4 tail into hextets.
  const canonical = new URL(`http://[${addr}]/`).hostname.slice(1, -1);
  const [head, tail] = canonical.includes("::") ? canonical.split("::") as [string, string] : [canonical, undefined];
  const left = head === "" ? [] : head.split(":");
  const right = tail === undefined || tail === "" ? [] : tail.split(":");
  const parts = tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill("0"), ...right];
  return parts.reduce((n, h) => (n << 16n) | BigInt(parseInt(h, 16)), 0n);
}

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** A Kubernetes object name (RFC 1123 subdomain). */
export function isDnsSubdomain(value: string): boolean {
  return value.length <= 253 && DNS_SUBDOMAIN.test(value);
}

const DNS_NAME_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** A DNS name in lower case, at least `minLabels` labels, optionally starting with `*.` when `wildcard`. */
export function normaliseHost(text: string, options: { wildcard: boolean; minLabels: number }): string | undefined {
  const lower = text.toLowerCase().replace(/\.$/, "");
  const body = options.wildcard && lower.startsWith("*.") ? lower.slice(2) : lower;
  const labels = body.split(".");
  if (lower.length > 253 || labels.length < options.minLabels || !labels.every((l) => DNS_NAME_LABEL.test(l))) return undefined;
  return lower;
}

/**
 * The mesh service a host names, as the mesh's own names go
 * (proxy-control-plane/mesh-names.ts): `<svc>.<ns>.svc`,
 * `<svc>.<ns>.svc.cluster.local` (osm-edge's form) or
 * `<svc>.<ns>.svc.<trustDomain>`. Not `<svc>.<ns>`: two labels are real
 * domains (`httpbin.org` is an egress host, not service httpbin in namespace
 * org), so such a host stays an egress host.
 */
export function meshServiceOfHost(host: string, trustDomain = "cluster.local"): { namespace: string; name: string } | undefined {
  const labels = host.toLowerCase().split(".");
  if (labels.length < 3 || labels[2] !== "svc") return undefined;
  const suffix = labels.slice(3).join(".");
  if (suffix !== "" && suffix !== "cluster.local" && suffix !== trustDomain.toLowerCase()) return undefined;
  const [name, namespace] = labels as [string, string];
  return isDnsLabel(name) && isDnsLabel(namespace) ? { namespace, name } : undefined;
}
