/**
 * Validation of an agent's Hello at the edge: shape and limits first (zod),
 * then the rules that keep one proxy from speaking for another: the proxy id
 * must be the one in its certificate, and it may only announce endpoints on
 * its own host addresses that no other service owns.
 */
import { isIP } from "node:net";
import { z } from "zod";
import { APP_PROTOCOLS, type AppProtocol } from "../../common/app-protocol.js";
import { MeshfedError } from "../../common/errors.js";
import type { CaptureStatus__Output } from "../../generated/proto/meshfed/v1/CaptureStatus.js";
import type { Hello__Output } from "../../generated/proto/meshfed/v1/Hello.js";

export const HELLO_ERRORS = {
  invalid: "MESHFED_HELLO_INVALID",
  proxyIdMismatch: "MESHFED_PROXY_ID_MISMATCH",
  endpointNotLocal: "MESHFED_ENDPOINT_NOT_LOCAL",
  endpointOtherService: "MESHFED_ENDPOINT_OTHER_SERVICE",
} as const;

/** The most shared-file hashes a Hello may list (a few are expected: one codebase per controller version). */
export const MAX_CACHED_FILES = 256;

const ip = z.string().refine((v) => isIP(v) !== 0, { message: "not an IPv4 or IPv6 address" });
/** An agent's capture status (Hello and Health field 20); absent or empty = mode "none". */
const captureSchema = z.object({
  mode: z.enum(["none", "transparent"]).catch("none"),
  installed: z.boolean(),
  outboundActive: z.boolean(),
  errorCode: z.string().max(64),
  error: z.string().max(1024),
});

export type ValidCaptureStatus = z.infer<typeof captureSchema>;

/** Validated capture status, or null when the agent sent none (an older agent). Unknown modes read as "none". */
export function validCaptureStatus(raw: CaptureStatus__Output | null | undefined): ValidCaptureStatus | null {
  if (raw === null || raw === undefined) return null;
  const parsed = captureSchema.safeParse({ ...raw, errorCode: raw.errorCode.slice(0, 64), error: raw.error.slice(0, 1024) });
  return parsed.success ? parsed.data : null;
}

const helloSchema = z.object({
  proxyId: z.string().uuid(),
  hostAddresses: z.array(ip).max(64),
  // protocol "" = not declared (proto3's default for an absent string).
  endpoints: z.array(z.object({ ip, port: z.number().int().min(1).max(65535), protocol: z.union([z.literal(""), z.enum(APP_PROTOCOLS)]).default("") })).max(256),
  agentVersion: z.string().max(64),
  proxyVersion: z.string().max(64),
  configVersion: z.number().int().nonnegative(),
  configHash: z.string().regex(/^([0-9a-f]{64})?$/),
  /** Absent from agents older than mesh DNS (null from the decoder). */
  dns: z.object({
    state: z.string().max(32),
    listen: z.string().max(64),
    hook: z.string().max(32),
    namesHash: z.string().regex(/^([0-9a-f]{64})?$/),
    names: z.number().int().nonnegative(),
    detail: z.string().max(1024),
  }).nullish().transform((d) => d ?? null),
  /** Absent from agents older than content-addressed files (issue 17): they get every file in full. */
  fileCache: z.object({
    supported: z.boolean(),
    sha256: z.array(z.string().regex(/^[0-9a-f]{64}$/)).max(MAX_CACHED_FILES),
  }).nullish().transform((c) => (c?.supported === true ? c.sha256 : null)),
});

export type ValidHello = Omit<z.infer<typeof helloSchema>, "endpoints"> & {
  readonly endpoints: ReadonlyArray<{ readonly ip: string; readonly port: number; readonly protocol?: AppProtocol }>;
  readonly capture: ValidCaptureStatus | null;
};

export interface HelloContext {
  /** The proxy id read from the verified client certificate. */
  readonly proxyId: string;
  readonly service: string;
  /** Services other than this proxy's own that claim an IP:port through a non-agent provider. */
  readonly ownersOf: (ip: string, port: number) => string[];
}

export function validateHello(hello: Hello__Output | null | undefined, ctx: HelloContext): ValidHello {
  const parsed = helloSchema.safeParse(hello ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new MeshfedError(HELLO_ERRORS.invalid, `Hello.${issue.path.join(".")}: ${issue.message}`);
  }
  const h = parsed.data;
  if (h.proxyId !== ctx.proxyId) {
    throw new MeshfedError(HELLO_ERRORS.proxyIdMismatch, `Hello names proxy ${h.proxyId} but the client certificate is for proxy ${ctx.proxyId}`);
  }
  const local = new Set(h.hostAddresses.map((a) => a.toLowerCase()));
  for (const e of h.endpoints) {
    if (!local.has(e.ip.toLowerCase())) {
      throw new MeshfedError(HELLO_ERRORS.endpointNotLocal, `endpoint ${e.ip}:${e.port} is not on this host's addresses (${h.hostAddresses.join(", ") || "none announced"})`);
    }
    const owners = ctx.ownersOf(e.ip, e.port).filter((s) => s !== ctx.service);
    if (owners.length > 0) {
      throw new MeshfedError(HELLO_ERRORS.endpointOtherService, `endpoint ${e.ip}:${e.port} belongs to ${owners.join(", ")}, not to ${ctx.service} (the service in this proxy's certificate)`);
    }
  }
  return {
    ...h, hostAddresses: [...local],
    endpoints: h.endpoints.map((e) => ({ ip: e.ip.toLowerCase(), port: e.port, ...(e.protocol === "" ? {} : { protocol: e.protocol }) })),
    capture: validCaptureStatus(hello?.capture),
  };
}
