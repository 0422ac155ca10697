/**
 * The controller configuration file (`meshfed controller --config FILE`).
 * Field names are a contract documented in docs/configuration.md; durations
 * are strings such as "24h" or "50ms"; relative paths are resolved against
 * the directory of the config file.
 */
import { z } from "zod";
import { durationSchema, hostPortSchema } from "../../common/config-schema.js";
import { LOG_LEVELS } from "../../common/logger.js";
import { certificatesConfigSchema } from "./certificates-schema.js";
// The provider schemas are imported from modules that do not load the
// platform SDKs, so parsing a config stays fast for every CLI command.
import { azureProviderConfigSchema } from "../providers/azure/config.js";
import { kubernetesProviderConfigSchema } from "../kube/config-schema.js";
import { parseStoreLocation } from "../store/store-location.js";
import { DEFAULT_VIP_RANGE, VipRange } from "../vips/vip-range.js";

const duration = durationSchema;

const hostPort = hostPortSchema("127.0.0.1:15000 or [::1]:15000");

const DNS_NAME = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$/;

const storeLocation = z.string().refine((text) => {
  try {
    parseStoreLocation(text);
    return true;
  } catch {
    return false;
  }
}, { message: 'expected "file" or "etcd://host:port[,host:port...]"' });

/** "local" names this process's own announcements in the agents provider. */
const REPLICA_ID = /^(?!local$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

export const DEFAULT_PROVIDER_PRIORITY = ["kubernetes", "azure", "agents", "onprem"] as const;

export const controllerConfigSchema = z.strictObject({
  dataDir: z.string().min(1).default("meshfed-data"),
  trustDomain: z.string().regex(DNS_NAME, "must be a DNS name such as cluster.local").default("cluster.local"),
  logLevel: z.enum(LOG_LEVELS).default("info"),
  shutdownTimeout: duration.default(10_000),
  /** Where the state lives (docs/ha.md): "file" (dataDir, one process) or "etcd://host:port[,host:port...]" (replicas). */
  store: storeLocation.default("file"),
  ha: z.strictObject({
    /** This replica's name in the election and in agent registrations; default: host name and a random suffix. */
    replicaId: z.string().regex(REPLICA_ID, "must be a DNS label other than \"local\"").optional(),
    /** How long a dead replica's agent registrations and leadership outlive it. */
    leaseTtl: duration.refine((ms) => ms >= 2_000 && ms <= 300_000, "must be between 2s and 5m").default(10_000),
    /** How long to wait for etcd at start before failing. */
    connectTimeout: duration.default(5_000),
  }).prefault({}),
  admin: z.strictObject({
    address: hostPort.default("127.0.0.1:15000"),
  }).prefault({}),
  /**
   * Prometheus' port: GET /metrics only, no admin token (admin/metrics-server.ts).
   * Unset: metrics only on the admin API, behind the token off loopback.
   */
  metrics: z.strictObject({
    address: hostPort.optional(),
  }).prefault({}),
  grpc: z.strictObject({
    address: hostPort.default("0.0.0.0:15128"),
    /**
     * HTTP/2 pings to every agent: an agent that vanished without a FIN
     * (half-open) is marked disconnected within time + timeout.
     */
    keepalive: z.strictObject({
      time: duration.refine((ms) => ms >= 1_000 && ms <= 600_000, "must be between 1s and 10m").default(20_000),
      timeout: duration.refine((ms) => ms >= 1_000 && ms <= 300_000, "must be between 1s and 5m").default(10_000),
    }).prefault({}),
    /**
     * How long a proxy's announced endpoints outlive its stream (the agent
     * keeps serving meanwhile): a proxy back within it changes nothing, so a
     * reconnect storm does not re-render every caller twice. 0: withdrawn
     * when the stream ends. A revoked certificate withdraws at once.
     */
    reconnectGrace: duration.refine((ms) => ms >= 0 && ms <= 300_000, "must be between 0s and 5m").default(10_000),
    /**
     * A mass disconnect: at least `threshold` of the proxies this controller
     * knows, and at least `minProxies`, away at once. The path to the
     * controller broke, not the hosts: endpoints of proxies past their grace
     * are kept until every proxy is back, no proxy came back for a whole
     * grace, or `maxHold` passed (docs/agent.md, "Reconnect grace").
     * `threshold: 0` turns it off.
     */
    massDisconnect: z.strictObject({
      threshold: z.number().min(0).max(1).default(0.5),
      minProxies: z.number().int().min(1).default(20),
      maxHold: duration.refine((ms) => ms >= 0 && ms <= 3_600_000, "must be between 0s and 1h").default(300_000),
    }).prefault({}),
  }).prefault({}),
  /**
   * Pipy's repo protocol over HTTPS with client certificates, for sidecars in
   * pods that poll the controller (docs/pipy.md). Off unless an address is
   * given: VM agents do not need it, and it serves service keys.
   */
  repo: z.strictObject({
    address: hostPort.optional(),
  }).prefault({}),
  /**
   * What proxies are sent: "pipy" (our Pipy sidecar codebase and a per-proxy
   * config.json: docs/pipy.md) or "json" (the ProxyView itself as
   * /config.json, for debugging or a proxy of one's own).
   */
  driver: z.enum(["pipy", "json"]).default("pipy"),
  /**
   * Limits of the agent gRPC endpoint. A peer over its enrollment budget is
   * refused with RESOURCE_EXHAUSTED (MESHFED_ENROLL_RATE_LIMITED) and retries
   * with backoff; a Connect stream beyond maxStreams is refused the same way
   * (MESHFED_TOO_MANY_STREAMS). Messages above 4 MiB are refused by gRPC.
   */
  limits: z.strictObject({
    maxStreams: z.number().int().min(1).max(1_000_000).default(10_000),
    enrollPerSecond: z.number().positive().max(100_000).default(10),
    enrollBurst: z.number().int().min(1).max(100_000).default(50),
  }).prefault({}),
  /**
   * Enrollment without a join token (docs/azure.md "Joining without a
   * token"): `azureImds` turns on the Azure IMDS attested document, for VMs
   * and scale-set instances the Azure provider sees. Off when absent.
   */
  bootstrap: z.strictObject({
    azureImds: z.strictObject({
      /** PEM file with the CA roots IMDS's signing certificate chains to (and, optionally, intermediates). */
      rootsFile: z.string().min(1),
      /** More intermediates, besides those the document carries. */
      intermediatesFile: z.string().min(1).optional(),
      /** DNS names the signing certificate must carry. */
      signerNames: z.array(z.string().min(1)).min(1).default(["metadata.azure.com"]),
      /** A document created longer ago (or this far in the future) is stale. */
      maxAge: duration.refine((ms) => ms >= 1_000 && ms <= 3_600_000, "must be between 1s and 1h").default(300_000),
      /** How long a nonce from AttestationNonce can be used. */
      nonceTtl: duration.refine((ms) => ms >= 1_000 && ms <= 3_600_000, "must be between 1s and 1h").default(120_000),
      /** Shortest time between two ARM reads asked for by an unknown vmId. */
      refreshInterval: duration.refine((ms) => ms >= 1_000, "must be at least 1s").default(10_000),
    }).optional(),
  }).prefault({}),
  agents: z.strictObject({
    /**
     * Whether an agent's own announcement counts as discovery. Off: an
     * announced endpoint joins the mesh only if another provider lists it too.
     */
    selfRegistration: z.boolean().default(true),
  }).prefault({}),
  mesh: z.strictObject({
    permissive: z.boolean().default(false),
    /** Mesh virtual IPs come from this IPv4 range (vips/vip-range.ts: why 240.0.0.0/4). */
    vipRange: z.string().refine((text) => {
      try {
        VipRange.parse(text);
        return true;
      } catch {
        return false;
      }
    }, { message: `expected an IPv4 CIDR range without host bits, e.g. ${DEFAULT_VIP_RANGE}` }).default(DEFAULT_VIP_RANGE),
    /** A service gone this long loses its VIP; a shorter absence keeps it (flapping, resyncs). */
    vipReleaseAfter: duration.default(86_400_000),
    /** Captured traffic to a destination outside the mesh: passes through (true) or is refused. */
    outboundPassthrough: z.boolean().default(true),
  }).prefault({}),
  catalog: z.strictObject({
    providerPriority: z.array(z.string().min(1)).default([...DEFAULT_PROVIDER_PRIORITY]),
    coalesce: duration.default(50),
    maxDelay: duration.default(500),
  }).prefault({}),
  certificates: certificatesConfigSchema,
  providers: z.strictObject({
    onprem: z.strictObject({
      hostsFile: z.string().min(1),
      debounce: duration.default(100),
    }).optional(),
    azure: azureProviderConfigSchema.optional(),
    kubernetes: kubernetesProviderConfigSchema.optional(),
  }).prefault({}),
  spec: z.strictObject({
    files: z.strictObject({
      directory: z.string().min(1),
      debounce: duration.default(100),
    }).optional(),
  }).prefault({}),
});

export type ControllerConfig = z.output<typeof controllerConfigSchema>;
export type ControllerConfigInput = z.input<typeof controllerConfigSchema>;
