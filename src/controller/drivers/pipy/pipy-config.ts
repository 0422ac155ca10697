/**
 * The config of the Pipy driver (docs/pipy.md, "config.json"), in two parts
 * (issue 17): `/config.json` (schema "meshfed.io/pipy-config/v1"), what is
 * the proxy's own (id, service, identity, listeners, loopback addresses), and
 * `/view.json` ("meshfed.io/pipy-view/v1"), what every proxy with the same
 * PipyViewInputs shares (rules, outbound services, egress, resilience,
 * capture), rendered once per distinct inputs (view-cache.ts). /config.js
 * merges them into PipyConfigV1, the single config.json of before. Pure: the
 * same view and options always give the same objects, and canonicalJson turns
 * them into the same bytes.
 *
 * What is deliberately NOT here: private keys and certificates. The agent
 * adds them to the codebase it serves to its local Pipy over loopback
 * (`/certs/service.crt`, `/certs/service.key`, `/certs/ca.pem`); the paths
 * below only tell the scripts where to find them.
 */
import { formatHostPort, isLoopback } from "../../../common/address.js";
import { DEFAULT_APP_PROTOCOL, type AppProtocol, type PortProtocols } from "../../../common/app-protocol.js";
import { serviceKey, type ServiceRef } from "../../../common/service.js";
import type { EndpointAddress, InboundRule, OutboundService, ProxyView } from "../../catalog/types.js";
import type { HttpMatch, IdentityRef } from "../../spec/types.js";
import { egressConfig, ingressConfig, type PipyEgressRuleV1, type PipyIngressRuleV1 } from "./egress-config.js";
import { pipyInboundRateLimit, pipyLimits, pipyRetry, type PipyInboundRateLimitV1, type PipyLimitsV1, type PipyRetryV1 } from "./resilience-config.js";
import { compareStrings } from "../../../common/compare.js";

export const PIPY_CONFIG_SCHEMA = "meshfed.io/pipy-config/v1";
export const PIPY_VIEW_SCHEMA = "meshfed.io/pipy-view/v1";

/** Where the agent puts the service certificate in the codebase it serves (see src/agent). */
export const CERT_PATHS = { cert: "certs/service.crt", key: "certs/service.key", ca: "certs/ca.pem" } as const;

export interface PipyDriverOptions {
  /** Trust domain of service certificates: identities are `<account>.<ns>.svc.<trustDomain>`. */
  readonly trustDomain: string;
  /**
   * Mesh-wide: a sidecar's inbound listener for an endpoint `ip:port` is
   * `ip:(port + inboundPortOffset)`. Every proxy must use the same offset,
   * because outbound sidecars dial peers at that computed address.
   */
  readonly inboundPortOffset?: number;
  /** Port of the explicit outbound HTTP listener (Host-header routing). */
  readonly outboundPort?: number;
  /**
   * Port of the transparent outbound listener on 127.0.0.1, where the capture
   * rules (agent or pod init container) redirect the application's TCP.
   * Rendered only for a proxy whose view says capture is "transparent".
   */
  readonly transparentPort?: number;
  /** Port of the readiness listener. */
  readonly healthPort?: number;
  /** Retries of an idempotent request after a connection failure or a 502/503/504. */
  readonly retries?: number;
  /** Seconds; TCP connect timeout towards a peer sidecar or the local process. */
  readonly connectTimeout?: number;
  /** Seconds; an idle upstream connection is closed after this. */
  readonly idleTimeout?: number;
}

export const PIPY_DEFAULTS = { inboundPortOffset: 10000, outboundPort: 15001, transparentPort: 15002, healthPort: 15021, retries: 2, connectTimeout: 5, idleTimeout: 60 } as const;

export interface PipyHttpMatchV1 {
  readonly name: string;
  /** Anchored regular expression; absent = any path. */
  readonly path?: string;
  /** Upper-case methods; empty = any. */
  readonly methods: readonly string[];
  /** Header name (lower case) -> anchored regular expression over its value. */
  readonly headers: Readonly<Record<string, string>>;
}

export interface PipyInboundRuleV1 {
  readonly trafficTarget: string;
  /** Certificate identities (`<name>.<ns>.svc.<td>`) allowed by this rule. */
  readonly sources: readonly string[];
  /** Service port the rule is restricted to; absent = every port. */
  readonly port?: number;
  readonly http: readonly PipyHttpMatchV1[];
  readonly tcpPorts: readonly number[];
  readonly anyTcpPort: boolean;
}

export interface PipyInboundListenerV1 {
  /** ip:port the sidecar listens on (endpoint port + offset, on the endpoint's address). */
  readonly listen: string;
  /** The endpoint's own (service) port: what rules and TrafficTargets name. */
  readonly port: number;
  /** The local process, ip:port. */
  readonly target: string;
  /**
   * The declared protocol of the port (http2, grpc, tcp); for a port declared
   * "http" or not at all: "tcp" when only TCPRoutes admit traffic to it, else "http".
   */
  readonly protocol: AppProtocol;
}

export interface PipyTargetV1 {
  readonly service: string;
  /** The first of `identities` (kept for scripts that read one name). */
  readonly identity: string;
  /** Every identity a peer of this target may prove (a service may run under several accounts), sorted. */
  readonly identities: readonly string[];
  /** Peer sidecars' inbound addresses (endpoint port + offset), sorted. */
  readonly endpoints: readonly string[];
}

export interface PipyOutboundServiceV1 {
  readonly service: string;
  /** Host header values (without port) that select this service. */
  readonly hosts: readonly string[];
  readonly ports: readonly number[];
  /** Protocol of every port in `ports` (port as a string). */
  readonly protocols: Readonly<Record<string, AppProtocol>>;
  /**
   * Original destinations that mean this service to the transparent listener:
   * every endpoint `ip:port` it (or a split backend) has, without the offset. Sorted.
   */
  readonly addresses: readonly string[];
  /** The mesh VIP the agents' DNS answers for this service's names. */
  readonly vip?: string;
  /** Platform virtual IPs (Kubernetes ClusterIPs). */
  readonly virtualIPs: readonly string[];
  /** Traffic not taken by a split goes here; absent when the service itself may not be called. */
  readonly direct?: PipyTargetV1;
  readonly split?: {
    readonly trafficSplit: string;
    /** Empty = the split applies to every request. */
    readonly matches: readonly PipyHttpMatchV1[];
    readonly backends: readonly (PipyTargetV1 & { readonly weight: number })[];
  };
  /** Client-side limits of the service's UpstreamTrafficSetting (resilience-config.ts). */
  readonly limits?: PipyLimitsV1;
  /** A Retry for this proxy and service; absent = the default retries (`outbound.retries`). */
  readonly retry?: PipyRetryV1;
}

/** `/config.json`: the per-proxy part (schema meshfed.io/pipy-config/v1 with `view`). */
export interface PipyProxyConfigV1 {
  readonly schema: typeof PIPY_CONFIG_SCHEMA;
  readonly proxy: PipyConfigV1["proxy"];
  /** sha256 (hex) of the /view.json this config runs with: which shared view the proxy has. */
  readonly view: string;
  readonly health: PipyConfigV1["health"];
  readonly inbound: { readonly listeners: readonly PipyInboundListenerV1[] };
  readonly outbound: { readonly listen: string };
  readonly warnings: readonly string[];
}

/** `/view.json`: the part shared by every proxy with the same PipyViewInputs. */
export interface PipyViewV1 {
  readonly schema: typeof PIPY_VIEW_SCHEMA;
  readonly trustDomain: string;
  readonly certificates: typeof CERT_PATHS;
  readonly inbound: Omit<PipyConfigV1["inbound"], "listeners">;
  readonly outbound: Omit<PipyConfigV1["outbound"], "listen">;
  readonly warnings: readonly string[];
}

/** The config the scripts see: config.json and view.json merged by /config.js (mergePipyConfig). */
export interface PipyConfigV1 {
  readonly schema: typeof PIPY_CONFIG_SCHEMA;
  readonly proxy: { readonly id: string; readonly service: string; readonly identity: string };
  readonly trustDomain: string;
  readonly certificates: typeof CERT_PATHS;
  readonly health: { readonly listen: string };
  readonly inbound: {
    readonly permissive: boolean;
    readonly listeners: readonly PipyInboundListenerV1[];
    readonly rules: readonly PipyInboundRuleV1[];
    /** IngressBackend rules (egress-config.ts); absent = mesh mTLS only. */
    readonly ingress?: readonly PipyIngressRuleV1[];
    /** Local rate limits of this proxy's service (its UpstreamTrafficSetting). */
    readonly rateLimit?: PipyInboundRateLimitV1;
  };
  readonly outbound: {
    readonly listen: string;
    /**
     * The transparent listener, when the proxy's host captures traffic
     * (ProxyView.proxy.capture). passthrough: a destination that is not in
     * the mesh is dialled as is (true) or the connection is closed (false);
     * mesh setting `mesh.outboundPassthrough`.
     */
    readonly transparent?: { readonly listen: string; readonly passthrough: boolean };
    /**
     * The mesh-wide inbound port offset, so that scripts can tell the service
     * port of a peer endpoint (`ip:(port + offset)`) for per-port endpoint choice.
     */
    readonly inboundPortOffset: number;
    readonly retries: number;
    readonly connectTimeout: number;
    readonly idleTimeout: number;
    readonly services: readonly PipyOutboundServiceV1[];
    /** Egress rules for destinations outside the mesh (egress-config.ts); absent = none. */
    readonly egress?: { readonly rules: readonly PipyEgressRuleV1[] };
  };
  /** Things left out of this config and why (e.g. a port that overflows with the offset). */
  readonly warnings: readonly string[];
}

export function identityName(id: IdentityRef | ServiceRef, trustDomain: string): string {
  return `${id.name}.${id.namespace}.svc.${trustDomain}`;
}

/**
 * Everything of a ProxyView the shared part (view.json) is rendered from, and
 * nothing else: the proxy's id, service, identity, own endpoints and their
 * protocols stay out, so proxies that differ only in those share one render.
 * `passthrough` only counts with transparent capture (it is rendered nowhere
 * else), so explicit-mode proxies share a view whatever the mesh setting.
 */
export interface PipyViewInputs {
  readonly transparent: boolean;
  readonly passthrough: boolean;
  readonly permissive: boolean;
  readonly rules: ProxyView["inbound"]["rules"];
  readonly ingress: ProxyView["inbound"]["ingress"];
  readonly rateLimit: ProxyView["inbound"]["rateLimit"];
  readonly outbound: ProxyView["outbound"];
  readonly egress: ProxyView["egress"];
}

export function pipyViewInputs(view: ProxyView): PipyViewInputs {
  const transparent = view.proxy.capture === "transparent";
  return {
    transparent, passthrough: transparent && view.proxy.outboundPassthrough !== false, permissive: view.inbound.permissive,
    rules: view.inbound.rules, ingress: view.inbound.ingress, rateLimit: view.inbound.rateLimit, outbound: view.outbound, egress: view.egress,
  };
}

/**
 * The shared part, `/view.json`: one object per distinct PipyViewInputs
 * (and driver options), the same bytes for every proxy that has them.
 */
export function buildPipyView(inputs: PipyViewInputs, options: PipyDriverOptions): PipyViewV1 {
  const o = { ...PIPY_DEFAULTS, ...options };
  const td = o.trustDomain;
  const warnings: string[] = [];
  const target = (service: ServiceRef, identities: readonly IdentityRef[], endpoints: readonly EndpointAddress[]): PipyTargetV1 => {
    // An empty list would leave a target no peer can prove: fall back to the service-named account.
    const names = (identities.length > 0 ? identities : [{ kind: "ServiceAccount" as const, ...service }]).map((i) => identityName(i, td));
    return {
      service: serviceKey(service),
      identity: names[0]!,
      identities: [...new Set(names)].sort(),
      endpoints: uniqueSorted(endpoints).map((e) => sidecarAddress(e, o.inboundPortOffset, warnings)).filter((a): a is string => a !== undefined),
    };
  };
  // Warnings in the order the single config.json listed them (after the proxy's own listeners): ingress, outbound, egress.
  const inbound = {
    permissive: inputs.permissive, rules: inputs.rules.map((r) => inboundRule(r, td)), ...ingressConfig({ inbound: { ingress: inputs.ingress } }, httpMatch, warnings),
    ...(inputs.rateLimit ? { rateLimit: pipyInboundRateLimit(inputs.rateLimit) } : {}),
  };
  const outbound = {
    ...(inputs.transparent ? { transparent: { listen: formatHostPort({ host: "127.0.0.1", port: o.transparentPort }), passthrough: inputs.passthrough } } : {}),
    inboundPortOffset: o.inboundPortOffset,
    retries: o.retries,
    connectTimeout: o.connectTimeout,
    idleTimeout: o.idleTimeout,
    services: inputs.outbound.map((s) => outboundService(s, td, target)),
    ...egressConfig({ egress: inputs.egress }, httpMatch, warnings),
  };
  return { schema: PIPY_VIEW_SCHEMA, trustDomain: td, certificates: CERT_PATHS, inbound, outbound, warnings };
}

/**
 * The per-proxy part, `/config.json`: who the proxy is and what it listens
 * on. `rules` are the view's rendered inbound rules (a listener's protocol
 * depends on them); `viewId` the sha256 of the view.json rendered with it.
 */
export function buildPipyProxyConfig(view: ProxyView, options: PipyDriverOptions, rules: readonly PipyInboundRuleV1[], viewId: string): PipyProxyConfigV1 {
  const o = { ...PIPY_DEFAULTS, ...options };
  const warnings: string[] = [];
  const listeners: PipyInboundListenerV1[] = [];
  for (const e of uniqueSorted(view.inbound.endpoints)) {
    const listen = sidecarAddress(e, o.inboundPortOffset, warnings);
    if (listen === undefined) continue;
    // Keys in sorted order, here and below: see pipyProxyConfigJson.
    listeners.push({ listen, port: e.port, protocol: protocolOf(rules, e.port, view.inbound.protocols), target: formatHostPort({ host: e.ip, port: e.port }) });
  }
  // Outbound and health listen on loopback. In a dev or test layout where the
  // proxy's endpoint is itself a loopback address (127.0.0.2, ...), they bind
  // that address, so that several proxies can share one host without colliding.
  const first = view.inbound.endpoints[0]?.ip;
  const local = first !== undefined && isLoopback(first) ? first : "127.0.0.1";
  return {
    health: { listen: formatHostPort({ host: local, port: o.healthPort }) },
    inbound: { listeners },
    outbound: { listen: formatHostPort({ host: local, port: o.outboundPort }) },
    proxy: { id: view.proxy.id, identity: identityName(view.proxy.identity, o.trustDomain), service: serviceKey(view.proxy.service) },
    schema: PIPY_CONFIG_SCHEMA,
    view: viewId,
    warnings,
  };
}

/**
 * config.json's bytes: canonicalJson's output, without its key-sorting
 * replacer. buildPipyProxyConfig writes every key in sorted order, so plain
 * JSON.stringify (V8's fast path) gives the same bytes; this runs once per
 * proxy per push, where the replacer was most of the per-proxy cost. A unit
 * test checks the equality on every fixture.
 */
export function pipyProxyConfigJson(own: PipyProxyConfigV1): string {
  return `${JSON.stringify(own, null, 2)}\n`;
}

/**
 * The config the scripts run on: config.json and view.json merged. The
 * TypeScript twin of what /config.js does in Pipy (a unit test runs both over
 * every fixture); it is the single config.json of before the split, field for
 * field.
 */
export function mergePipyConfig(own: PipyProxyConfigV1, view: PipyViewV1): PipyConfigV1 {
  return {
    schema: PIPY_CONFIG_SCHEMA,
    proxy: own.proxy,
    trustDomain: view.trustDomain,
    certificates: view.certificates,
    health: own.health,
    inbound: { ...view.inbound, listeners: own.inbound.listeners },
    outbound: { ...view.outbound, listen: own.outbound.listen },
    warnings: [...own.warnings, ...view.warnings],
  };
}

/** The merged config of one view, rendered without the driver's cache (tests, `meshfed validate`-style tools). */
export function buildPipyConfig(view: ProxyView, options: PipyDriverOptions): PipyConfigV1 {
  const shared = buildPipyView(pipyViewInputs(view), options);
  return mergePipyConfig(buildPipyProxyConfig(view, options, shared.inbound.rules, ""), shared);
}

function sidecarAddress(e: EndpointAddress, offset: number, warnings: string[]): string | undefined {
  const port = e.port + offset;
  if (port > 65535) {
    warnings.push(`endpoint ${formatHostPort({ host: e.ip, port: e.port })}: port + offset ${offset} exceeds 65535; left out`);
    return undefined;
  }
  return formatHostPort({ host: e.ip, port });
}

type TargetOf = (service: ServiceRef, identities: readonly IdentityRef[], endpoints: readonly EndpointAddress[]) => PipyTargetV1;

function outboundService(s: OutboundService, td: string, target: TargetOf): PipyOutboundServiceV1 {
  const { name, namespace } = s.service;
  const all = [...s.endpoints, ...(s.split?.backends ?? []).flatMap((b) => b.endpoints)];
  return {
    service: serviceKey(s.service),
    hosts: [`${name}.${namespace}`, `${name}.${namespace}.svc`, `${name}.${namespace}.svc.${td}`],
    ports: s.ports,
    protocols: Object.fromEntries(s.ports.map((p) => [String(p), protocolFor(s.protocols, p)])),
    addresses: uniqueSorted(all).map((e) => formatHostPort({ host: e.ip, port: e.port })),
    ...(s.vip !== undefined ? { vip: s.vip } : {}),
    virtualIPs: [...new Set(s.virtualIPs ?? [])].sort(),
    ...(s.endpoints.length > 0 ? { direct: target(s.service, s.identities ?? [s.identity], s.endpoints) } : {}),
    ...(s.split
      ? {
          split: {
            trafficSplit: s.split.trafficSplit,
            matches: s.split.matches.map(httpMatch),
            // A backend without `identities` runs as its service-named account (the view's contract).
            backends: s.split.backends.map((b) => ({ ...target(b.service, b.identities ?? [{ kind: "ServiceAccount", ...b.service }], b.endpoints), weight: b.weight })),
          },
        }
      : {}),
    ...(s.limits ? { limits: pipyLimits(s.limits) } : {}),
    ...(s.retry ? { retry: pipyRetry(s.retry) } : {}),
  };
}

function protocolFor(protocols: PortProtocols | undefined, port: number): AppProtocol {
  return protocols?.[String(port)] ?? DEFAULT_APP_PROTOCOL;
}

function inboundRule(r: InboundRule, td: string): PipyInboundRuleV1 {
  return {
    trafficTarget: r.trafficTarget,
    sources: [...new Set(r.sources.map((s) => identityName(s, td)))].sort(),
    ...(r.port !== undefined ? { port: r.port } : {}),
    http: r.httpMatches.map(httpMatch),
    tcpPorts: [...r.tcpPorts].sort((a, b) => a - b),
    anyTcpPort: r.anyTcpPort,
  };
}

/** SMI path and header values are regular expressions matched against the whole value. */
export function httpMatch(m: HttpMatch): PipyHttpMatchV1 {
  const methods = m.methods.includes("*") ? [] : [...m.methods].map((x) => x.toUpperCase()).sort();
  const headers = Object.fromEntries(Object.entries(m.headers).map(([k, v]) => [k.toLowerCase(), `^(?:${v})$`]));
  return { name: m.name, ...(m.pathRegex !== undefined ? { path: `^(?:${m.pathRegex})$` } : {}), methods, headers };
}

function protocolOf(rules: readonly PipyInboundRuleV1[], port: number, declared: PortProtocols | undefined): AppProtocol {
  const protocol = protocolFor(declared, port);
  if (protocol !== "http") return protocol;
  const applies = rules.filter((r) => r.port === undefined || r.port === port);
  const tcp = applies.some((r) => r.anyTcpPort || r.tcpPorts.includes(port));
  const http = applies.some((r) => r.http.length > 0);
  return tcp && !http ? "tcp" : "http";
}

function uniqueSorted(endpoints: readonly EndpointAddress[]): EndpointAddress[] {
  const seen = new Map<string, EndpointAddress>();
  for (const e of endpoints) seen.set(formatHostPort({ host: e.ip, port: e.port }), e);
  return [...seen.entries()].sort(([a], [b]) => compareStrings(a, b)).map(([, e]) => e);
}
