/**
 * Validates and normalises one osm-edge policy object (Egress,
 * IngressBackend, UpstreamTrafficSetting, Retry) into policy-types.ts. Pure.
 * smi-parse.ts calls it for documents of these kinds, so the file store, the
 * CRD store and `meshfed validate` share one path and one set of error codes;
 * every problem is an issue with a path into the manifest (a line for files,
 * a field path for custom resources).
 *
 * Cross-object checks (matches that name nothing, two settings for one host,
 * duplicates) live in policy-validate.ts.
 */
import { isDnsLabel } from "../../common/service.js";
import type { InputIssue } from "../../common/yaml-input.js";
import type {
  CircuitBreaking, Egress, HttpLocalRateLimit, IngressBackend, IngressBackendTarget, IngressSource, LocalObjectRef, LocalRateLimit, PolicyPort, Retry,
  ServiceAccountRef, ServiceRef, UpstreamTrafficSetting,
} from "./policy-types.js";
import type {
  CircuitBreakingManifest, EgressManifest, HttpLocalRateLimitManifest, IngressBackendManifest, PolicyKind, RetryManifest, UpstreamTrafficSettingManifest,
} from "./policy-schema.js";
import { isDnsSubdomain, meshServiceOfHost, normaliseCidr, normaliseHost, parseGoDurationMs } from "./policy-values.js";

export const POLICY_ERROR_CODES = {
  /** Shape: a missing or unknown field, a wrong type, a bad name. */
  invalid: "MESHFED_POLICY_INVALID",
  /** A kind of policy.openservicemesh.io meshfed does not read (AccessControl, EgressGateway...) or an unknown version. */
  unsupported: "MESHFED_POLICY_UNSUPPORTED",
  invalidDuration: "MESHFED_POLICY_INVALID_DURATION",
  invalidCidr: "MESHFED_POLICY_INVALID_CIDR",
  invalidHost: "MESHFED_POLICY_INVALID_HOST",
  invalidProtocol: "MESHFED_POLICY_INVALID_PROTOCOL",
  invalidPort: "MESHFED_POLICY_INVALID_PORT",
  invalidRegex: "MESHFED_POLICY_INVALID_REGEX",
  invalidRateLimit: "MESHFED_POLICY_INVALID_RATE_LIMIT",
  invalidRetryOn: "MESHFED_POLICY_INVALID_RETRY_ON",
  invalidSource: "MESHFED_POLICY_INVALID_SOURCE",
  invalidMatch: "MESHFED_POLICY_INVALID_MATCH",
  /** An IngressBackend backend without `port`. */
  backendPort: "MESHFED_POLICY_BACKEND_PORT",
  /** A Retry without destinations. */
  noDestinations: "MESHFED_POLICY_NO_DESTINATIONS",
  /** `matches` names an HTTPRouteGroup or UpstreamTrafficSetting that is not in the namespace. */
  missingMatch: "MESHFED_POLICY_MISSING_MATCH",
  /** Two objects of one kind with the same namespace/name. */
  duplicate: "MESHFED_POLICY_DUPLICATE",
  /** Two UpstreamTrafficSettings for one host, or two IngressBackends for one backend port. */
  conflict: "MESHFED_POLICY_CONFLICT",
  /** A note, not an error: a field osm-edge defines that meshfed accepts and does not act on. */
  notEnforced: "MESHFED_POLICY_NOT_ENFORCED",
} as const;

export type PolicyValue =
  | { readonly kind: "Egress"; readonly object: Egress }
  | { readonly kind: "IngressBackend"; readonly object: IngressBackend }
  | { readonly kind: "UpstreamTrafficSetting"; readonly object: UpstreamTrafficSetting }
  | { readonly kind: "Retry"; readonly object: Retry };

export interface PolicyParseOptions {
  /** The mesh's trust domain: `<svc>.<ns>.svc.<trustDomain>` names a service as `.svc.cluster.local` does. */
  readonly trustDomain?: string;
}

type Issue = InputIssue;
type Path = readonly PropertyKey[];
type Meta = { namespace: string; name: string; origin: string };

const C = POLICY_ERROR_CODES;
const PROTOCOLS = new Set<PolicyPort["protocol"]>(["http", "https", "tcp", "tcp-server-first", "grpc"]);
const INGRESS_PROTOCOLS = new Set<PolicyPort["protocol"]>(["http", "https", "grpc"]);
const RATE_UNITS = new Set<LocalRateLimit["unit"]>(["second", "minute", "hour"]);
// Envoy's retry conditions, which osm-edge passes through, plus status codes.
const RETRY_ON = new Set([
  "5xx", "gateway-error", "reset", "reset-before-request", "connect-failure", "envoy-ratelimited", "retriable-4xx", "refused-stream",
  "retriable-status-codes", "retriable-headers", "http3-post-connect-failure",
  "cancelled", "deadline-exceeded", "internal", "resource-exhausted", "unavailable",
]);

/**
 * Normalises a manifest already checked against its kind's schema; pushes
 * every problem onto `issues`, and onto `notes` every field that is accepted
 * but not acted on (so that `meshfed validate` can say so instead of passing
 * over it in silence).
 */
export function normalisePolicy(kind: PolicyKind, data: unknown, meta: Meta, issues: Issue[], options: PolicyParseOptions = {}, notes: Issue[] = []): PolicyValue {
  const p = new PolicyParser(meta.namespace, issues, notes);
  switch (kind) {
    case "Egress": return { kind, object: { ...meta, ...p.egress(data as EgressManifest) } };
    case "IngressBackend": return { kind, object: { ...meta, ...p.ingressBackend(data as IngressBackendManifest) } };
    case "UpstreamTrafficSetting": return { kind, object: { ...meta, ...p.upstreamTrafficSetting(data as UpstreamTrafficSettingManifest, options.trustDomain) } };
    case "Retry": return { kind, object: { ...meta, ...p.retry(data as RetryManifest) } };
  }
}

class PolicyParser {
  constructor(readonly namespace: string, readonly issues: Issue[], readonly notes: Issue[]) {}

  egress(m: EgressManifest): Omit<Egress, keyof Meta> {
    const s = m.spec;
    const sources = (s.sources ?? []).map((src, i) => {
      if (src.mtls !== undefined) this.notes.push({ code: C.notEnforced, message: "mtls (egress mTLS origination with its own certificate) is accepted for osm-edge compatibility and not enforced", path: ["spec", "sources", i, "mtls"] });
      return this.account(src, ["spec", "sources", i]);
    });
    if (sources.length === 0) this.issue(C.invalidSource, "an Egress needs at least one source", ["spec"]);
    const hosts = (s.hosts ?? []).flatMap((h, i) => {
      const host = normaliseHost(h, { wildcard: true, minLabels: 1 });
      if (host === undefined) this.issue(C.invalidHost, `host "${h}" is not a DNS name (a leading "*." matches any subdomain)`, ["spec", "hosts", i]);
      return host === undefined ? [] : [host];
    });
    const ipAddresses = (s.ipAddresses ?? []).map((a, i) => this.cidr(a, ["spec", "ipAddresses", i]));
    const ports = (s.ports ?? []).map((port, i) => this.port(port, ["spec", "ports", i], PROTOCOLS));
    if (ports.length === 0) this.issue(C.invalidPort, "an Egress needs at least one port", ["spec"]);
    const matches = this.matches(s.matches, ["HTTPRouteGroup", "UpstreamTrafficSetting"]);
    if (matches.filter((r) => r.kind === "UpstreamTrafficSetting").length > 1) {
      this.issue(C.invalidMatch, "an Egress can match at most one UpstreamTrafficSetting (as in osm-edge)", ["spec", "matches"]);
    }
    return { sources, hosts: [...new Set(hosts)], ipAddresses: [...new Set(ipAddresses)], ports, matches };
  }

  ingressBackend(m: IngressBackendManifest): Omit<IngressBackend, keyof Meta> {
    const s = m.spec;
    const seen = new Set<string>();
    const backends = (s.backends ?? []).map((b, i): IngressBackendTarget => {
      const at = ["spec", "backends", i];
      if (!isDnsLabel(b.name)) this.issue(C.invalid, `backend service "${b.name}" is not a DNS label`, [...at, "name"]);
      let port: PolicyPort = { number: 0, protocol: "http" };
      if (b.port === undefined) this.issue(C.backendPort, `backend "${b.name}" has no port: name the service port the ingress reaches`, at);
      else port = this.port(b.port, [...at, "port"], INGRESS_PROTOCOLS);
      const key = `${b.name}:${port.number}`;
      if (b.port !== undefined && seen.has(key)) this.issue(C.invalid, `backend ${key} is listed twice`, at);
      seen.add(key);
      const tls = b.tls === undefined ? {} : {
        tls: { skipClientCertValidation: b.tls.skipClientCertValidation, sniHosts: (b.tls.sniHosts ?? []).map((h) => h.toLowerCase()) },
      };
      return { name: b.name, port, ...tls };
    });
    if (backends.length === 0) this.issue(C.invalid, "an IngressBackend needs at least one backend", ["spec"]);
    const sources = (s.sources ?? []).flatMap((src, i) => this.ingressSource(src, ["spec", "sources", i]));
    if ((s.sources ?? []).length === 0) this.issue(C.invalidSource, "an IngressBackend needs at least one source", ["spec"]);
    const matches = this.matches(s.matches, ["HTTPRouteGroup", "UpstreamTrafficSetting"]);
    return { backends, sources, matches };
  }

  upstreamTrafficSetting(m: UpstreamTrafficSettingManifest, trustDomain: string | undefined): Omit<UpstreamTrafficSetting, keyof Meta> {
    const s = m.spec;
    if (s.httpHeaders != null) this.notes.push({ code: C.notEnforced, message: "httpHeaders (per-header rate limits of osm-edge's demo, not in its CRD) are accepted and not enforced", path: ["spec", "httpHeaders"] });
    const host = normaliseHost(s.host, { wildcard: false, minLabels: 2 });
    if (host === undefined) this.issue(C.invalidHost, `host "${s.host}" is not a DNS name of at least two labels (svc.ns.svc.cluster.local, or an egress host)`, ["spec", "host"]);
    const service = host === undefined ? undefined : meshServiceOfHost(host, trustDomain);
    if (service !== undefined && service.namespace !== this.namespace) {
      // osm-edge looks a service's setting up in the service's namespace only:
      // one placed elsewhere would silently do nothing.
      this.issue(C.invalidHost, `host "${s.host}" names service ${service.namespace}/${service.name}; its UpstreamTrafficSetting must be in namespace ${service.namespace}`, ["spec", "host"]);
    }
    const cs = s.connectionSettings;
    const at = ["spec", "connectionSettings"];
    const tcp = cs?.tcp === undefined ? undefined : prune({
      maxConnections: this.count(cs.tcp.maxConnections, [...at, "tcp", "maxConnections"]),
      connectTimeoutMs: this.duration(cs.tcp.connectTimeout, [...at, "tcp", "connectTimeout"]),
    });
    const h = cs?.http;
    const http = h === undefined ? undefined : prune({
      maxRequests: this.count(h.maxRequests, [...at, "http", "maxRequests"]),
      maxRequestsPerConnection: this.count(h.maxRequestsPerConnection, [...at, "http", "maxRequestsPerConnection"]),
      maxPendingRequests: this.count(h.maxPendingRequests, [...at, "http", "maxPendingRequests"]),
      maxRetries: this.count(h.maxRetries, [...at, "http", "maxRetries"]),
      requestTimeoutMs: this.duration(h.requestTimeout, [...at, "http", "requestTimeout"]),
      circuitBreaking: h.circuitBreaking === undefined ? undefined : this.circuitBreaking(h.circuitBreaking, [...at, "http", "circuitBreaking"]),
    });
    const local = s.rateLimit?.local;
    const rlAt = ["spec", "rateLimit", "local"];
    const rateLimit = local === undefined ? undefined : prune({
      tcp: local.tcp === undefined ? undefined : this.rate(local.tcp.connections, local.tcp.unit, local.tcp.burst, [...rlAt, "tcp"], "connections"),
      http: local.http === undefined ? undefined : this.httpRate(local.http, [...rlAt, "http"]),
    });
    const httpRoutes = (s.httpRoutes ?? []).map((r, i) => {
      const rAt = ["spec", "httpRoutes", i];
      try {
        new RegExp(r.path);
      } catch (err) {
        this.issue(C.invalidRegex, `path "${r.path}" is not a regular expression: ${err instanceof Error ? err.message : String(err)}`, [...rAt, "path"]);
      }
      if (r.path === "") this.issue(C.invalidRegex, "path must not be empty (\".*\" matches every path)", [...rAt, "path"]);
      const rl = r.rateLimit?.local;
      return { path: r.path, ...(rl === undefined ? {} : { rateLimit: this.httpRate(rl, [...rAt, "rateLimit", "local"]) }) };
    });
    return {
      host: s.host,
      ...(service === undefined ? {} : { service }),
      ...(tcp === undefined ? {} : { tcp }),
      ...(http === undefined ? {} : { http }),
      ...(rateLimit === undefined ? {} : { rateLimit }),
      httpRoutes,
    };
  }

  retry(m: RetryManifest): Omit<Retry, keyof Meta> {
    const s = m.spec;
    const source = this.account(s.source, ["spec", "source"]);
    const destinations = (s.destinations ?? []).map((d, i): ServiceRef => {
      const at = ["spec", "destinations", i];
      if (d.kind !== "Service") this.issue(C.invalid, `destination kind "${d.kind}" is not Service`, [...at, "kind"]);
      this.names(d, at, "service");
      return { kind: "Service", name: d.name, namespace: d.namespace ?? this.namespace };
    });
    if (destinations.length === 0) this.issue(C.noDestinations, "a Retry needs at least one destination service", ["spec", ...(s.destinations == null ? [] : ["destinations"])]);
    const p = s.retryPolicy;
    const pAt = ["spec", "retryPolicy"];
    const retryOn = p.retryOn.split(",").map((x) => x.trim().toLowerCase()).filter((x) => x !== "");
    if (retryOn.length === 0) this.issue(C.invalidRetryOn, "retryOn names no condition", [...pAt, "retryOn"]);
    for (const cond of retryOn) {
      const code = /^\d{3}$/.test(cond) ? Number(cond) : undefined;
      if (!RETRY_ON.has(cond) && !(code !== undefined && code >= 100 && code <= 599)) {
        this.issue(C.invalidRetryOn, `retryOn condition "${cond}" is not one of ${[...RETRY_ON].join(", ")} or an HTTP status code`, [...pAt, "retryOn"]);
      }
    }
    const retryPolicy = prune({
      retryOn: [...new Set(retryOn)],
      numRetries: this.count(p.numRetries ?? undefined, [...pAt, "numRetries"]),
      perTryTimeoutMs: this.duration(p.perTryTimeout ?? undefined, [...pAt, "perTryTimeout"]),
      retryBackoffBaseIntervalMs: this.duration(p.retryBackoffBaseInterval ?? undefined, [...pAt, "retryBackoffBaseInterval"]),
    }) as Retry["retryPolicy"];
    return { source, destinations, retryPolicy };
  }

  // ---- fields ----

  issue(code: string, message: string, path: Path): void {
    this.issues.push({ code, message, path });
  }

  account(src: { kind: string; name: string; namespace?: string | undefined }, at: Path): ServiceAccountRef {
    if (src.kind !== "ServiceAccount") this.issue(C.invalidSource, `source kind "${src.kind}" is not ServiceAccount`, [...at, "kind"]);
    this.names(src, at, "service account");
    return { kind: "ServiceAccount", name: src.name, namespace: src.namespace ?? this.namespace };
  }

  names(ref: { name: string; namespace?: string | undefined }, at: Path, what: string): void {
    if (!isDnsSubdomain(ref.name)) this.issue(C.invalid, `${what} "${ref.name}" is not a DNS subdomain`, [...at, "name"]);
    if (ref.namespace !== undefined && !isDnsLabel(ref.namespace)) this.issue(C.invalid, `namespace "${ref.namespace}" is not a DNS label`, [...at, "namespace"]);
  }

  ingressSource(src: { kind: string; name: string; namespace?: string | undefined }, at: Path): IngressSource[] {
    switch (src.kind) {
      case "Service":
        if (src.namespace === undefined || src.namespace === "") {
          this.issue(C.invalidSource, "a Service source needs a namespace (as in osm-edge)", at);
          return [];
        }
        this.names(src, at, "service");
        return [{ kind: "Service", namespace: src.namespace, name: src.name }];
      case "AuthenticatedPrincipal":
        if (src.name === "") this.issue(C.invalidSource, "an AuthenticatedPrincipal source needs a name (the client certificate's identity)", [...at, "name"]);
        return [{ kind: "AuthenticatedPrincipal", name: src.name.toLowerCase() }];
      case "IPRange":
        return [{ kind: "IPRange", name: this.cidr(src.name, [...at, "name"]) }];
      default:
        this.issue(C.invalidSource, `source kind "${src.kind}" is not one of Service, AuthenticatedPrincipal, IPRange`, [...at, "kind"]);
        return [];
    }
  }

  cidr(text: string, at: Path): string {
    const cidr = normaliseCidr(text.trim());
    if (cidr === undefined) this.issue(C.invalidCidr, `"${text}" is not an IP range (CIDR such as 10.0.0.0/8 or 2001:db8::/32, or one address)`, at);
    return cidr ?? text;
  }

  port(p: { number: number; protocol: string }, at: Path, allowed: ReadonlySet<PolicyPort["protocol"]>): PolicyPort {
    if (!(Number.isInteger(p.number) && p.number >= 1 && p.number <= 65535)) this.issue(C.invalidPort, `port ${p.number} is not an integer in 1..65535`, [...at, "number"]);
    const protocol = p.protocol.toLowerCase() as PolicyPort["protocol"];
    if (!allowed.has(protocol)) this.issue(C.invalidProtocol, `protocol "${p.protocol}" is not one of ${[...allowed].join(", ")}`, [...at, "protocol"]);
    return { number: p.number, protocol };
  }

  matches(refs: readonly { apiGroup?: string | null | undefined; kind: string; name: string }[] | null | undefined, kinds: readonly string[]): LocalObjectRef[] {
    return (refs ?? []).map((r, i) => {
      const at = ["spec", "matches", i];
      if (!kinds.includes(r.kind)) this.issue(C.invalidMatch, `match kind "${r.kind}" is not one of ${kinds.join(", ")}`, [...at, "kind"]);
      const group = (r.apiGroup ?? "").split("/")[0]!;
      const want = r.kind === "HTTPRouteGroup" ? "specs.smi-spec.io" : "policy.openservicemesh.io";
      if (group !== "" && kinds.includes(r.kind) && group !== want) this.issue(C.invalidMatch, `apiGroup "${r.apiGroup}" does not hold ${r.kind} (expected ${want})`, [...at, "apiGroup"]);
      if (!isDnsSubdomain(r.name)) this.issue(C.invalid, `match name "${r.name}" is not a DNS subdomain`, [...at, "name"]);
      return { ...(r.apiGroup == null ? {} : { apiGroup: r.apiGroup }), kind: r.kind, name: r.name };
    });
  }

  count(n: number | undefined, at: Path): number | undefined {
    if (n !== undefined && !(Number.isSafeInteger(n) && n >= 0)) this.issue(C.invalid, `${n} is not a whole number >= 0`, at);
    return n;
  }

  duration(text: string | undefined, at: Path): number | undefined {
    if (text === undefined) return undefined;
    const ms = parseGoDurationMs(text.trim());
    if (ms === undefined) this.issue(C.invalidDuration, `"${text}" is not a duration (examples: 500ms, 1s, 1m30s)`, at);
    return ms;
  }

  ratio(n: number | undefined, at: Path): number | undefined {
    if (n !== undefined && !(n >= 0 && n <= 1)) this.issue(C.invalid, `ratio ${n} is not between 0 and 1`, at);
    return n;
  }

  rate(amount: number, unit: string, burst: number | undefined, at: Path, field: "requests" | "connections"): LocalRateLimit {
    if (!(Number.isSafeInteger(amount) && amount >= 1)) this.issue(C.invalidRateLimit, `${field} ${amount} is not a whole number >= 1`, [...at, field]);
    if (!RATE_UNITS.has(unit as LocalRateLimit["unit"])) this.issue(C.invalidRateLimit, `unit "${unit}" is not one of second, minute, hour`, [...at, "unit"]);
    if (burst !== undefined && !(Number.isSafeInteger(burst) && burst >= 0)) this.issue(C.invalidRateLimit, `burst ${burst} is not a whole number >= 0`, [...at, "burst"]);
    // osm-edge's burst is a plain uint32: absent reads as 0.
    return { amount, unit: unit as LocalRateLimit["unit"], burst: burst ?? 0 };
  }

  httpRate(r: HttpLocalRateLimitManifest, at: Path): HttpLocalRateLimit {
    const base = this.rate(r.requests, r.unit, r.burst, at, "requests");
    const status = r.responseStatusCode;
    // osm-edge's Go type is a plain uint32 too: 0 means "not set" (429).
    if (status !== undefined && status !== 0 && !(Number.isInteger(status) && status >= 400 && status <= 599)) {
      this.issue(C.invalidRateLimit, `responseStatusCode ${status} is not in 400..599`, [...at, "responseStatusCode"]);
    }
    const headers = (r.responseHeadersToAdd ?? []).map((hv, i) => {
      if (hv.name === "" || hv.value === "") this.issue(C.invalidRateLimit, "a header to add needs a name and a value", [...at, "responseHeadersToAdd", i]);
      return { name: hv.name, value: hv.value };
    });
    return { ...base, ...(status === undefined || status === 0 ? {} : { responseStatusCode: status }), responseHeadersToAdd: headers };
  }

  circuitBreaking(cb: CircuitBreakingManifest, at: Path): CircuitBreaking {
    if (!(Number.isSafeInteger(cb.minRequestAmount) && cb.minRequestAmount >= 1)) this.issue(C.invalid, `minRequestAmount ${cb.minRequestAmount} is not a whole number >= 1`, [...at, "minRequestAmount"]);
    if (cb.degradedStatusCode !== undefined && !(Number.isInteger(cb.degradedStatusCode) && cb.degradedStatusCode >= 100 && cb.degradedStatusCode <= 599)) {
      this.issue(C.invalid, `degradedStatusCode ${cb.degradedStatusCode} is not an HTTP status`, [...at, "degradedStatusCode"]);
    }
    return prune({
      statTimeWindowMs: this.duration(cb.statTimeWindow, [...at, "statTimeWindow"]) ?? 0,
      minRequestAmount: cb.minRequestAmount,
      degradedTimeWindowMs: this.duration(cb.degradedTimeWindow, [...at, "degradedTimeWindow"]) ?? 0,
      slowTimeThresholdMs: this.duration(cb.slowTimeThreshold, [...at, "slowTimeThreshold"]),
      slowAmountThreshold: this.count(cb.slowAmountThreshold, [...at, "slowAmountThreshold"]),
      slowRatioThreshold: this.ratio(cb.slowRatioThreshold, [...at, "slowRatioThreshold"]),
      errorAmountThreshold: this.count(cb.errorAmountThreshold, [...at, "errorAmountThreshold"]),
      errorRatioThreshold: this.ratio(cb.errorRatioThreshold, [...at, "errorRatioThreshold"]),
      degradedStatusCode: cb.degradedStatusCode,
      degradedResponseContent: cb.degradedResponseContent,
    });
  }
}

/** The object without its undefined fields (exactOptionalPropertyTypes; equal inputs, equal JSON). */
function prune<T extends Record<string, unknown>>(o: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as { [K in keyof T]: Exclude<T[K], undefined> };
}
