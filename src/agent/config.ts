/**
 * The agent configuration file (`meshfed agent --config FILE`) and the
 * command-line flags that override it. Field names are a contract documented
 * in docs/agent.md; durations are strings such as "30s"; relative paths are
 * resolved against the directory of the config file (flags: the working
 * directory).
 */
import { isIP } from "node:net";
import { dirname, isAbsolute, resolve } from "node:path";
import { z } from "zod";
import { durationSchema, hostPortSchema } from "../common/config-schema.js";
import { isLoopback, parseHostPort } from "../common/address.js";
import { DEFAULT_INBOUND_OFFSET, DEFAULT_OUTBOUND_PORT, ipv4Cidr } from "../common/capture-rules.js";
import { MeshfedError } from "../common/errors.js";
import { LOG_LEVELS } from "../common/logger.js";
import { PROTOCOL_CHOICES, splitProtocolSuffix } from "../common/declared-protocol.js";
import { parseServiceKey } from "../common/service.js";
import { healthProbesSchema, parseProbeFlag, PROBE_INVALID, probeIssue } from "../common/health-probe.js";
import { readConfigFile } from "../common/config-file.js";
import { validateYaml } from "../common/yaml-input.js";
import { HOOK_MODES } from "./dns/resolver-hook.js";
import { METRICS_OFF } from "./scrape-file.js";

export const AGENT_CONFIG_INVALID = "MESHFED_AGENT_CONFIG_INVALID";

const duration = durationSchema;

function check(fn: (text: string) => unknown): (text: string) => boolean {
  return (text) => {
    try {
      fn(text);
      return true;
    } catch {
      return false;
    }
  };
}

const hostPort = hostPortSchema("controller.example.com:15128");
const loopbackHostPort = z.string().refine(check(parseHostPort), { message: "expected host:port, e.g. 127.0.0.1:15010" })
  .refine((text) => !check(parseHostPort)(text) || isLoopback(parseHostPort(text).host), { message: "must be a loopback address (127.0.0.0/8 or ::1): only the local Pipy may read it" });
const ipPort = z.string().refine((text) => check(parseHostPort)(text) && isIP(parseHostPort(text).host) !== 0 && parseHostPort(text).port > 0, {
  message: "expected IP:PORT, e.g. 10.0.0.5:8080",
});
/** IP:PORT[/PROTOCOL]: the port's application protocol may follow (10.0.0.5:14001/grpc). */
const endpoint = z.string()
  .refine((text) => splitProtocolSuffix(text).bad === undefined, { message: `the protocol after "/" must be one of ${PROTOCOL_CHOICES}` })
  .refine((text) => ipPort.safeParse(splitProtocolSuffix(text).address).success, { message: "expected IP:PORT[/PROTOCOL], e.g. 10.0.0.5:8080 or 10.0.0.5:14001/grpc" });
const ip = z.string().refine((text) => isIP(text) !== 0, { message: "expected an IP address" });
/** The sidecar's scrape port on a VM (docs/operations.md "Scraping VMs"); 15010 is taken by the loopback repo here. */
export const DEFAULT_METRICS_ADDRESS = "0.0.0.0:15090";
const metricsHostPort = z.string().refine((text) => check(parseHostPort)(text) && isIP(parseHostPort(text).host) !== 0, {
  message: `expected IP:PORT (e.g. ${DEFAULT_METRICS_ADDRESS}) or "off"`,
});
const tcpPort = z.number().int().min(1).max(65535);
const cidr = z.string().refine(check(ipv4Cidr), { message: "expected an IPv4 address or CIDR range, e.g. 10.0.0.0/8 (IPv6 is not captured yet)" });
const service = z.string().refine(check(parseServiceKey), { message: "expected namespace/name, each a DNS label" });
/** A list, also accepted as one comma-separated string (`controller: "a:15128,b:15128"`). */
const controllers = z.union([z.string(), z.array(z.string())])
  .transform((v) => (Array.isArray(v) ? v : v.split(",")).map((s) => s.trim()).filter((s) => s !== ""))
  .pipe(z.array(hostPort).min(1, "name at least one controller host:port"));

export const agentConfigSchema = z.strictObject({
  /** Controller gRPC addresses, tried in rotation (HA). */
  controller: controllers,
  /** The CA bundle given at install; pinned for enrollment and the first connection. */
  caFile: z.string().min(1),
  /** The join token; read only for the first enrollment. */
  tokenFile: z.string().min(1).optional(),
  /**
   * How the first enrollment proves who this agent is: "token" (tokenFile) or
   * "azure-imds" (the Azure IMDS attested document; no token: docs/azure.md
   * "Joining without a token").
   */
  bootstrap: z.enum(["token", "azure-imds"]).default("token"),
  /** IMDS base URL for azure-imds; only tests change it (default http://169.254.169.254). */
  imdsUrl: z.url({ protocol: /^http$/, error: "must be an http:// URL (IMDS is plain HTTP on a link-local address)" }).optional(),
  dataDir: z.string().min(1).default("meshfed-agent-data"),
  /** Expected service (namespace/name); the enrollment must match it when set. */
  service: service.optional(),
  /** Endpoints of the local service announced in Hello. */
  endpoints: z.array(endpoint).default([]),
  /**
   * Application health probes for the endpoints above (docs/agent.md,
   * "Health probes"); per port they win over the join token's and the hosts
   * file's. Flags: --probe port=14001,type=http,path=/healthz (repeatable).
   */
  probes: healthProbesSchema.default([]),
  /** Addresses of this host announced in Hello; default: non-internal interface addresses. */
  hostAddresses: z.array(ip).optional(),
  repoAddress: loopbackHostPort.default("127.0.0.1:15010"),
  logLevel: z.enum(LOG_LEVELS).default("info"),
  backoff: z.strictObject({
    base: duration.default(500),
    cap: duration.default(30_000),
    /** A connection up this long resets the backoff. */
    stableAfter: duration.default(10_000),
    /**
     * After a TLS certificate failure (docs/agent.md, "Connection failures"):
     * the next attempt comes after a uniform delay in [tlsRetry/2, tlsRetry).
     */
    tlsRetry: duration.refine((ms) => ms >= 1_000 && ms <= 86_400_000, "must be between 1s and 24h").default(300_000),
  }).prefault({}),
  healthInterval: duration.default(30_000),
  /**
   * HTTP/2 pings to the controller: a path that died without a FIN
   * (half-open) is noticed within time + timeout, then the agent reconnects.
   */
  keepalive: z.strictObject({
    time: duration.refine((ms) => ms >= 1_000 && ms <= 600_000, "must be between 1s and 10m").default(20_000),
    timeout: duration.refine((ms) => ms >= 1_000 && ms <= 300_000, "must be between 1s and 5m").default(10_000),
  }).prefault({}),
  /** Mesh names on this host (docs/dataplane.md "Mesh names"): off unless enabled. */
  dns: z.strictObject({
    enabled: z.boolean().default(false),
    /** Loopback host:port; not 127.0.0.53 (systemd-resolved's stub). Port 53 for the resolv.conf hook. */
    listen: loopbackHostPort.default("127.0.0.153:53"),
    /** How the host's resolver is pointed at it: auto (resolved when it runs, else resolv.conf), resolved, resolv.conf, none. */
    hook: z.enum(HOOK_MODES).default("auto"),
    /** Per upstream resolver, for names that are not mesh names. */
    forwardTimeout: duration.default(2_000),
    /** Forwarded queries at once; beyond, queries are dropped and counted (a flood costs no memory). */
    maxInFlight: z.number().int().min(1).max(65_536).default(256),
    /** Fixed upstream resolvers (IP, port 53); default: the host's original ones. */
    upstreams: z.array(ip).max(8).optional(),
  }).prefault({}),
  proxy: z.strictObject({
    enabled: z.boolean().default(true),
    pipy: z.string().min(1).default("pipy"),
    /** Pipy's own admin port (metrics, status); loopback, distinct from repoAddress. */
    adminAddress: loopbackHostPort.default("127.0.0.1:6060"),
    /**
     * Where Prometheus scrapes this host's sidecar (GET /stats/prometheus,
     * metrics only; scrape-file.ts): any address of the host, or "off".
     */
    metricsAddress: z.union([z.literal(METRICS_OFF), metricsHostPort]).default(DEFAULT_METRICS_ADDRESS),
    /** Extra arguments appended to Pipy's command line (e.g. --threads=2). */
    args: z.array(z.string()).default([]),
    /** How long Pipy may take to report a new version running before it is NACKed. */
    convergenceTimeout: duration.default(30_000),
    /** Time between SIGINT and SIGKILL when stopping Pipy. */
    stopGrace: duration.default(10_000),
    /**
     * On a graceful stop, how long Pipy keeps serving after the stream to the
     * controller closed and before it is told to drain: the time the controller
     * needs to take this host's endpoints out of its callers' configs (issue 23).
     */
    drainDelay: duration.refine((ms) => ms <= 60_000, "must be at most 1m").default(2_000),
    restartBackoffCap: duration.default(30_000),
    /**
     * The user Pipy runs as: a name (the installer creates meshfed-proxy), a
     * uid or uid:gid. Required with capture.mode transparent, whose rules let
     * this uid's connections through unredirected.
     */
    user: z.string().min(1).optional(),
  }).prefault({}),
  /** Transparent traffic capture with iptables (docs/dataplane.md "Capture"). */
  capture: z.strictObject({
    /** none: explicit mode (apps dial 127.0.0.1:15001); transparent: the agent owns nat chains that capture the host's TCP. */
    mode: z.enum(["none", "transparent"]).default("none"),
    /** Pipy's transparent outbound listener on 127.0.0.1. */
    outboundPort: tcpPort.default(DEFAULT_OUTBOUND_PORT),
    /** Traffic from other hosts to a local endpoint port P goes to P + this (Pipy's mTLS inbound listener). */
    inboundPortOffset: z.number().int().min(1).max(65534).default(DEFAULT_INBOUND_OFFSET),
    /** Endpoint ports left reachable in plaintext from other hosts. */
    excludeInboundPorts: z.array(tcpPort).default([]),
    /** Destinations never redirected (the controller's addresses and loopback never are). */
    excludeOutboundIPRanges: z.array(cidr).default([]),
    excludeOutboundPorts: z.array(tcpPort).default([]),
    /** When either include list is non-empty, only TCP to those ranges or ports is redirected. */
    includeOutboundIPRanges: z.array(cidr).default([]),
    includeOutboundPorts: z.array(tcpPort).default([]),
    /** How often the agent reads the nat table back and repairs drift (a firewall reload, an admin). */
    checkInterval: duration.default(30_000),
  }).prefault({}),
});

export type AgentConfig = z.output<typeof agentConfigSchema>;
export type AgentConfigInput = z.input<typeof agentConfigSchema>;

/** Flags from the command line; each overrides the file. */
export interface AgentOverrides {
  readonly controller?: string;
  readonly caFile?: string;
  readonly tokenFile?: string;
  /** --bootstrap token|azure-imds */
  readonly bootstrap?: string;
  readonly imdsUrl?: string;
  readonly dataDir?: string;
  readonly service?: string;
  readonly endpoints?: readonly string[];
  readonly pipy?: string;
  readonly proxy?: boolean;
  readonly repoAddress?: string;
  readonly logLevel?: string;
  readonly backoffCap?: string;
  readonly hostAddresses?: readonly string[];
  /** --dns enabled|disabled */
  readonly dns?: string;
  readonly dnsListen?: string;
  readonly dnsHook?: string;
  readonly capture?: string;
  readonly proxyUser?: string;
  /** --probe key=value,... (repeatable); replaces the file's probes. */
  readonly probes?: readonly string[];
}

/**
 * `fill`: values the command line gives for required fields (already checked
 * and absolute); they take the place of the file's before the schema runs, so
 * a file without `controller` or `caFile` is complete when the flags name them.
 */
export function parseAgentConfig(text: string, file: string, baseDir = dirname(file), fill: Partial<Pick<AgentConfigInput, "controller" | "caFile">> = {}): AgentConfig {
  const { value } = validateYaml(text, file, agentConfigSchema, {
    syntaxCode: AGENT_CONFIG_INVALID,
    prepare: (found) => {
      const raw = found ?? {};
      // Anything but a mapping is the schema's to refuse, with the file's position.
      return typeof raw === "object" && !Array.isArray(raw) ? { ...raw, ...fill } : raw;
    },
  });
  return resolvePaths(value, baseDir);
}

export async function loadAgentConfig(file: string | undefined, overrides: AgentOverrides = {}): Promise<AgentConfig> {
  if (file === undefined) return fromFlagsOnly(overrides);
  const text = await readConfigFile(file);
  // Flags for required fields are checked as flags first (their errors name the
  // flag), then merged into the file's values before validation (issue 23).
  const fill = {
    ...(overrides.controller !== undefined ? { controller: parseFlag("--controller", agentConfigSchema.shape.controller, overrides.controller) } : {}),
    ...(overrides.caFile !== undefined ? { caFile: parseFlag("--ca-file", agentConfigSchema.shape.caFile, resolve(process.cwd(), overrides.caFile)) } : {}),
  };
  return applyOverrides(parseAgentConfig(text, file, dirname(file), fill), overrides);
}

/** Without a file, the flags must name what the schema requires (controller, CA file). */
function fromFlagsOnly(o: AgentOverrides): AgentConfig {
  if (o.controller === undefined || o.caFile === undefined) {
    throw new MeshfedError(AGENT_CONFIG_INVALID, "without --config, give at least --controller and --ca-file");
  }
  const base = resolvePaths(parseFlag("controller", agentConfigSchema, { controller: o.controller, caFile: o.caFile }), process.cwd());
  return applyOverrides(base, o);
}

/**
 * Each flag goes through the same field schema as the file, so a bad
 * `--repo-address` fails with the same named error as the same mistake in the file.
 */
function applyOverrides(config: AgentConfig, o: AgentOverrides): AgentConfig {
  const cwd = process.cwd();
  const shape = agentConfigSchema.shape;
  const proxyShape = shape.proxy.unwrap().shape;
  const backoffShape = shape.backoff.unwrap().shape;
  const dnsShape = shape.dns.unwrap().shape;
  const captureShape = shape.capture.unwrap().shape;
  const path = (p: string | undefined) => (p === undefined ? undefined : resolve(cwd, p));
  return {
    ...config,
    controller: o.controller !== undefined ? parseFlag("--controller", shape.controller, o.controller) : config.controller,
    caFile: path(o.caFile) ?? config.caFile,
    tokenFile: path(o.tokenFile) ?? config.tokenFile,
    bootstrap: o.bootstrap !== undefined ? parseFlag("--bootstrap", shape.bootstrap, o.bootstrap) : config.bootstrap,
    imdsUrl: o.imdsUrl !== undefined ? parseFlag("--imds-url", shape.imdsUrl, o.imdsUrl) : config.imdsUrl,
    dataDir: path(o.dataDir) ?? config.dataDir,
    service: o.service !== undefined ? parseFlag("--service", shape.service, o.service) : config.service,
    endpoints: o.endpoints !== undefined && o.endpoints.length > 0 ? parseFlag("--endpoint", shape.endpoints, [...o.endpoints]) : config.endpoints,
    probes: o.probes !== undefined && o.probes.length > 0 ? probesFromFlags(o.probes) : config.probes,
    hostAddresses: o.hostAddresses !== undefined && o.hostAddresses.length > 0 ? parseFlag("--host-address", shape.hostAddresses, [...o.hostAddresses]) : config.hostAddresses,
    repoAddress: o.repoAddress !== undefined ? parseFlag("--repo-address", shape.repoAddress, o.repoAddress) : config.repoAddress,
    logLevel: o.logLevel !== undefined ? parseFlag("--log-level", shape.logLevel, o.logLevel) : config.logLevel,
    dns: {
      ...config.dns,
      ...(o.dns !== undefined ? { enabled: parseFlag("--dns", z.enum(["enabled", "disabled"]), o.dns) === "enabled" } : {}),
      ...(o.dnsListen !== undefined ? { listen: parseFlag("--dns-listen", dnsShape.listen, o.dnsListen) } : {}),
      ...(o.dnsHook !== undefined ? { hook: parseFlag("--dns-hook", dnsShape.hook, o.dnsHook) } : {}),
    },
    backoff: { ...config.backoff, ...(o.backoffCap !== undefined ? { cap: parseFlag("--backoff-cap", backoffShape.cap, o.backoffCap) } : {}) },
    proxy: {
      ...config.proxy,
      ...(o.proxy !== undefined ? { enabled: o.proxy } : {}),
      ...(o.pipy !== undefined ? { pipy: parseFlag("--pipy", proxyShape.pipy, o.pipy) } : {}),
      ...(o.proxyUser !== undefined ? { user: parseFlag("--proxy-user", proxyShape.user, o.proxyUser) } : {}),
    },
    capture: { ...config.capture, ...(o.capture !== undefined ? { mode: parseFlag("--capture", captureShape.mode, o.capture) } : {}) },
  };
}

/** Each --probe through the shared parser (MESHFED_PROBE_INVALID names the bad key), then the list rules (one probe per port). */
function probesFromFlags(flags: readonly string[]): AgentConfig["probes"] {
  const list = flags.map((f) => parseProbeFlag(f));
  const parsed = healthProbesSchema.safeParse(list);
  if (!parsed.success) throw new MeshfedError(PROBE_INVALID, `command-line flag --probe: ${probeIssue(parsed.error)}`);
  return parsed.data;
}

function parseFlag<T extends z.ZodType>(flag: string, schema: T, value: unknown): z.output<T> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const first = parsed.error.issues[0];
  const where = first !== undefined && first.path.length > 0 ? ` (${first.path.join(".")})` : "";
  throw new MeshfedError(AGENT_CONFIG_INVALID, `command-line flag ${flag}${where}: ${first?.message ?? "invalid"}`);
}

function resolvePaths(config: AgentConfig, baseDir: string): AgentConfig {
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(baseDir, p));
  // A bare command name ("pipy") is looked up on PATH; only a path with a slash is resolved.
  const pipy = config.proxy.pipy.includes("/") ? abs(config.proxy.pipy) : config.proxy.pipy;
  return {
    ...config,
    caFile: abs(config.caFile),
    ...(config.tokenFile !== undefined ? { tokenFile: abs(config.tokenFile) } : {}),
    dataDir: abs(config.dataDir),
    proxy: { ...config.proxy, pipy },
  };
}

/** A complete config for tests and programmatic use: defaults filled in, paths taken as given. */
export function agentConfig(input: AgentConfigInput): AgentConfig {
  return agentConfigSchema.parse(input);
}
