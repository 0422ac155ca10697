/**
 * Shapes of the SMI objects meshfed reads, per API version, as zod schemas.
 * Only shape lives here (types, required and unknown fields); meaning (weights,
 * regexes, names, references) is checked in smi-parse.ts and smi-validate.ts so
 * each mistake gets its own error code.
 *
 * Supported: split.smi-spec.io v1alpha2..v1alpha4, access.smi-spec.io
 * v1alpha3, specs.smi-spec.io v1alpha3..v1alpha4 (v1alpha3 TCPRoute has an
 * empty spec; ports arrived in v1alpha4). Older versions had other shapes
 * (v1alpha1 weights were quantities such as "500m") and are refused by name.
 */
import { z } from "zod";

// Kubernetes metadata carries labels, annotations, uid...: only name and
// namespace matter here, the rest is tolerated.
const metadata = z.looseObject({ name: z.string(), namespace: z.string().optional() });

function manifest<S extends z.ZodType>(spec: S) {
  return z.strictObject({ apiVersion: z.string(), kind: z.string(), metadata, spec });
}

const backend = z.strictObject({ service: z.string(), weight: z.number() });
const splitMatch = z.strictObject({ kind: z.literal("HTTPRouteGroup"), name: z.string(), apiGroup: z.string().optional() });

export const trafficSplitV1alpha2 = manifest(
  z.strictObject({ service: z.string(), backends: z.array(backend).nullish() }),
);
export const trafficSplitV1alpha3 = manifest(
  z.strictObject({ service: z.string(), backends: z.array(backend).nullish(), matches: z.array(splitMatch).nullish() }),
);

const identity = z.strictObject({ kind: z.literal("ServiceAccount"), name: z.string(), namespace: z.string().optional() });
const rule = z.strictObject({
  kind: z.enum(["HTTPRouteGroup", "TCPRoute"]),
  name: z.string(),
  matches: z.array(z.string()).nullish(),
});

export const trafficTargetV1alpha3 = manifest(
  z.strictObject({
    destination: identity.extend({ port: z.number().optional() }),
    sources: z.array(identity).nullish(),
    rules: z.array(rule).nullish(),
  }),
);

const headerMap = z.record(z.string(), z.string());
const headerMatches = z.union([headerMap, z.array(headerMap)]);
const httpMatch = z.strictObject({
  name: z.string(),
  pathRegex: z.string().optional(),
  methods: z.array(z.string()).nullish(),
  // Two shapes are in use: the SMI spec's prose shows one map, while the
  // osm-edge CRDs (and its bookstore demo) declare a list of one-entry maps.
  // Both are accepted; smi-parse.ts merges a list in order.
  headers: headerMatches.nullish(),
});

export const httpRouteGroup = manifest(z.strictObject({ matches: z.array(httpMatch).nullish() }));

export const tcpRouteV1alpha3 = manifest(z.strictObject({}));
export const tcpRouteV1alpha4 = manifest(
  z.strictObject({ matches: z.strictObject({ ports: z.array(z.number()).nullish() }).nullish() }),
);

export type SmiKind = "TrafficSplit" | "TrafficTarget" | "HTTPRouteGroup" | "TCPRoute";

/** apiVersion -> schema, per kind. */
export const SCHEMAS: Readonly<Record<SmiKind, Readonly<Record<string, z.ZodType>>>> = {
  TrafficSplit: {
    "split.smi-spec.io/v1alpha2": trafficSplitV1alpha2,
    "split.smi-spec.io/v1alpha3": trafficSplitV1alpha3,
    "split.smi-spec.io/v1alpha4": trafficSplitV1alpha3,
  },
  TrafficTarget: {
    "access.smi-spec.io/v1alpha3": trafficTargetV1alpha3,
  },
  HTTPRouteGroup: {
    "specs.smi-spec.io/v1alpha3": httpRouteGroup,
    "specs.smi-spec.io/v1alpha4": httpRouteGroup,
  },
  TCPRoute: {
    "specs.smi-spec.io/v1alpha3": tcpRouteV1alpha3,
    "specs.smi-spec.io/v1alpha4": tcpRouteV1alpha4,
  },
};

export type TrafficSplitManifest = z.infer<typeof trafficSplitV1alpha3>;
export type TrafficTargetManifest = z.infer<typeof trafficTargetV1alpha3>;
export type HttpRouteGroupManifest = z.infer<typeof httpRouteGroup>;
export type HeaderMatches = z.infer<typeof headerMatches>;
export type TcpRouteManifest = z.infer<typeof tcpRouteV1alpha4>;
