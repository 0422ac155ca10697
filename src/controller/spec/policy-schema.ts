/**
 * Shapes of osm-edge's policy kinds (`policy.openservicemesh.io/v1alpha1`:
 * Egress, IngressBackend, UpstreamTrafficSetting, Retry) as zod schemas, field
 * for field after osm-edge's Go types (pkg/apis/policy/v1alpha1). Only shape
 * lives here; meaning (durations, CIDRs, protocols, hosts, references) is
 * checked in policy-parse.ts so that each mistake gets its own error code.
 *
 * Fields osm-edge requires but meshfed can do without (a Retry's durations,
 * a source's namespace) are optional here: an object osm-edge accepts must
 * load, and a file written for meshfed only may be shorter.
 */
import { z } from "zod";

const metadata = z.looseObject({ name: z.string(), namespace: z.string().optional() });

function manifest<S extends z.ZodType>(spec: S) {
  return z.strictObject({ apiVersion: z.string(), kind: z.string(), metadata, spec });
}

// Durations are Go `metav1.Duration` strings ("1s", "1m30s", "250ms").
const duration = z.string();
const count = z.number();

const portSpec = z.strictObject({ number: count, protocol: z.string() });
// corev1.TypedLocalObjectReference; osm-edge writes a group/version in apiGroup.
const localRef = z.strictObject({ apiGroup: z.string().nullish(), kind: z.string(), name: z.string() });

// Accepted so that osm-edge objects load; meshfed does not originate egress
// mTLS with a separate certificate (docs/policies.md says so).
const egressMtls = z.strictObject({
  issuer: z.string().optional(),
  cert: z.strictObject({
    sn: count.optional(),
    subjectAltNames: z.array(z.string()).nullish(),
    expiration: z.string().optional(),
    secret: z.strictObject({ name: z.string().optional(), namespace: z.string().optional() }).optional(),
  }).optional(),
});

export const egressV1alpha1 = manifest(
  z.strictObject({
    sources: z.array(z.strictObject({ kind: z.string(), name: z.string(), namespace: z.string().optional(), mtls: egressMtls.optional() })).nullish(),
    hosts: z.array(z.string()).nullish(),
    ipAddresses: z.array(z.string()).nullish(),
    ports: z.array(portSpec).nullish(),
    matches: z.array(localRef).nullish(),
  }),
);

export const ingressBackendV1alpha1 = manifest(
  z.strictObject({
    backends: z.array(z.strictObject({
      name: z.string(),
      // Optional in shape only, so a missing port gets its own named error.
      port: portSpec.optional(),
      tls: z.strictObject({ skipClientCertValidation: z.boolean(), sniHosts: z.array(z.string()).nullish() }).optional(),
    })).nullish(),
    sources: z.array(z.strictObject({ kind: z.string(), name: z.string(), namespace: z.string().optional() })).nullish(),
    matches: z.array(localRef).nullish(),
  }),
);

const headerValue = z.strictObject({ name: z.string(), value: z.string() });
const httpLocalRateLimit = z.strictObject({
  requests: count,
  unit: z.string(),
  burst: count.optional(),
  responseStatusCode: count.optional(),
  responseHeadersToAdd: z.array(headerValue).nullish(),
});
const circuitBreaking = z.strictObject({
  statTimeWindow: duration,
  minRequestAmount: count,
  degradedTimeWindow: duration,
  slowTimeThreshold: duration.optional(),
  slowAmountThreshold: count.optional(),
  slowRatioThreshold: count.optional(),
  errorAmountThreshold: count.optional(),
  errorRatioThreshold: count.optional(),
  degradedStatusCode: count.optional(),
  degradedResponseContent: z.string().optional(),
});

export const upstreamTrafficSettingV1alpha1 = manifest(
  z.strictObject({
    host: z.string(),
    connectionSettings: z.strictObject({
      tcp: z.strictObject({ maxConnections: count.optional(), connectTimeout: duration.optional() }).optional(),
      http: z.strictObject({
        maxRequests: count.optional(),
        maxRequestsPerConnection: count.optional(),
        maxPendingRequests: count.optional(),
        maxRetries: count.optional(),
        // meshfed extension: the whole request's deadline (osm-edge has none).
        requestTimeout: duration.optional(),
        circuitBreaking: circuitBreaking.optional(),
      }).optional(),
    }).optional(),
    rateLimit: z.strictObject({
      local: z.strictObject({
        tcp: z.strictObject({ connections: count, unit: z.string(), burst: count.optional() }).optional(),
        http: httpLocalRateLimit.optional(),
      }).optional(),
    }).optional(),
    httpRoutes: z.array(z.strictObject({ path: z.string(), rateLimit: z.strictObject({ local: httpLocalRateLimit.optional() }).optional() })).nullish(),
    // osm-edge's own rate-limit demo (demo/deploy-traffic-ratelimit.sh) sets
    // per-header limits that its Go types and CRD do not declare (the API
    // server prunes them). Accepted so the demo file loads; not enforced.
    httpHeaders: z.array(z.unknown()).nullish(),
  }),
);

const srcDst = z.strictObject({ kind: z.string(), name: z.string(), namespace: z.string().optional() });
export const retryV1alpha1 = manifest(
  z.strictObject({
    source: srcDst,
    destinations: z.array(srcDst).nullish(),
    retryPolicy: z.strictObject({
      retryOn: z.string(),
      perTryTimeout: duration.nullish(),
      numRetries: count.nullish(),
      retryBackoffBaseInterval: duration.nullish(),
    }),
  }),
);

export type PolicyKind = "Egress" | "IngressBackend" | "UpstreamTrafficSetting" | "Retry";

export const POLICY_GROUP = "policy.openservicemesh.io";

/** apiVersion -> schema, per kind. */
export const POLICY_SCHEMAS: Readonly<Record<PolicyKind, Readonly<Record<string, z.ZodType>>>> = {
  Egress: { [`${POLICY_GROUP}/v1alpha1`]: egressV1alpha1 },
  IngressBackend: { [`${POLICY_GROUP}/v1alpha1`]: ingressBackendV1alpha1 },
  UpstreamTrafficSetting: { [`${POLICY_GROUP}/v1alpha1`]: upstreamTrafficSettingV1alpha1 },
  Retry: { [`${POLICY_GROUP}/v1alpha1`]: retryV1alpha1 },
};

export function isPolicyKind(kind: string): kind is PolicyKind {
  return Object.hasOwn(POLICY_SCHEMAS, kind);
}

export type EgressManifest = z.infer<typeof egressV1alpha1>;
export type IngressBackendManifest = z.infer<typeof ingressBackendV1alpha1>;
export type UpstreamTrafficSettingManifest = z.infer<typeof upstreamTrafficSettingV1alpha1>;
export type RetryManifest = z.infer<typeof retryV1alpha1>;
export type HttpLocalRateLimitManifest = z.infer<typeof httpLocalRateLimit>;
export type CircuitBreakingManifest = z.infer<typeof circuitBreaking>;
