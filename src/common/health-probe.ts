/**
 * Application health probes for VM endpoints (docs/agent.md, "Health
 * probes"): one declaration shape shared by the three places that may declare
 * them (the agent's config file and `--probe` flags, a join token, a service
 * entry of the on-prem hosts file), the compact `key=value,...` form the
 * command lines take, and the precedence between the three sources.
 *
 * Field names follow Kubernetes probes (periodSeconds, timeoutSeconds,
 * successThreshold, failureThreshold) so that people who wrote one can write
 * the other; a probe's `port` is the endpoint port whose health it decides
 * and the port it probes.
 */
import { z } from "zod";
import { MeshfedError } from "./errors.js";

export const PROBE_INVALID = "MESHFED_PROBE_INVALID";
export const PROBE_TYPES = ["http", "tcp"] as const;
export type ProbeType = (typeof PROBE_TYPES)[number];

/** Where a probe was declared, highest precedence first. */
export const PROBE_SOURCES = ["agent", "token", "hosts"] as const;
export type ProbeSource = (typeof PROBE_SOURCES)[number];

export const PROBE_DEFAULTS = { periodSeconds: 10, timeoutSeconds: 1, successThreshold: 1, failureThreshold: 3 } as const;

const seconds = (max: number) => z.number().min(0.1, "must be at least 0.1 (seconds)").max(max, `must be at most ${max} (seconds)`);
const threshold = z.number().int("must be a whole number").min(1).max(100);

export const healthProbeSchema = z.strictObject({
  port: z.number().int().min(1, "must be a port in 1..65535").max(65535, "must be a port in 1..65535"),
  type: z.enum(PROBE_TYPES, { message: `must be one of ${PROBE_TYPES.join(", ")}` }),
  /** HTTP only: the path GET asks for; any 2xx or 3xx answer is a success. */
  path: z.string().startsWith("/", "must start with /").max(1024).regex(/^[\x21-\x7e]+$/, "must be printable ASCII without spaces").optional(),
  periodSeconds: seconds(3600).default(PROBE_DEFAULTS.periodSeconds),
  timeoutSeconds: seconds(3600).default(PROBE_DEFAULTS.timeoutSeconds),
  successThreshold: threshold.default(PROBE_DEFAULTS.successThreshold),
  failureThreshold: threshold.default(PROBE_DEFAULTS.failureThreshold),
}).superRefine((p, ctx) => {
  if (p.type === "tcp" && p.path !== undefined) ctx.addIssue({ code: "custom", path: ["path"], message: "a tcp probe has no path" });
  // One check in flight per probe: a timeout beyond the period would overlap the next.
  if (p.timeoutSeconds > p.periodSeconds) ctx.addIssue({ code: "custom", path: ["timeoutSeconds"], message: `must not exceed periodSeconds (${p.periodSeconds})` });
});

export type HealthProbeInput = z.input<typeof healthProbeSchema>;
export type HealthProbe = z.output<typeof healthProbeSchema>;

/** A list of probes, at most one per port. */
export const healthProbesSchema = z.array(healthProbeSchema).max(64).superRefine((list, ctx) => {
  const seen = new Set<number>();
  list.forEach((p, i) => {
    if (seen.has(p.port)) ctx.addIssue({ code: "custom", path: [i, "port"], message: `two probes for port ${p.port}` });
    seen.add(p.port);
  });
});

/** The first problem of a failed parse as one line ("periodSeconds: must be at least 0.1 (seconds)"). */
export function probeIssue(error: z.ZodError): string {
  const first = error.issues[0];
  if (first === undefined) return "invalid";
  return first.path.length > 0 ? `${first.path.join(".")}: ${first.message}` : first.message;
}

const NUMERIC = new Set(["port", "periodSeconds", "timeoutSeconds", "successThreshold", "failureThreshold"]);

/**
 * The command-line form: `port=14001,type=http,path=/healthz,periodSeconds=5`
 * (the same keys as the YAML form). Throws MESHFED_PROBE_INVALID naming `what`
 * (the flag) and the bad key.
 */
export function parseProbeFlag(text: string, what = "--probe"): HealthProbe {
  const raw: Record<string, unknown> = {};
  for (const part of text.split(",").map((s) => s.trim()).filter((s) => s !== "")) {
    const eq = part.indexOf("=");
    if (eq <= 0) throw new MeshfedError(PROBE_INVALID, `${what} "${text}": expected key=value pairs separated by commas, e.g. port=14001,type=http,path=/healthz`);
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (key in raw) throw new MeshfedError(PROBE_INVALID, `${what} "${text}": ${key} is given twice`);
    raw[key] = NUMERIC.has(key) ? (value === "" || Number.isNaN(Number(value)) ? value : Number(value)) : value;
  }
  const parsed = healthProbeSchema.safeParse(raw);
  if (!parsed.success) throw new MeshfedError(PROBE_INVALID, `${what} "${text}": ${probeIssue(parsed.error)}`);
  return parsed.data;
}

/** The compact form back (for tokens listed by the CLI and for logs). */
export function formatProbe(p: HealthProbe): string {
  return `${p.type} ${p.type === "http" ? `GET :${p.port}${p.path ?? "/"}` : `connect :${p.port}`} every ${p.periodSeconds}s (timeout ${p.timeoutSeconds}s, success ${p.successThreshold}, failure ${p.failureThreshold})`;
}

export interface DeclaredProbe extends HealthProbe {
  readonly source: ProbeSource;
}

/**
 * Precedence, per port: the agent's own config (the host's operator knows the
 * app best) over the join token (what the fleet's installer declared) over
 * the hosts file (the controller-wide default for a service on a host). One
 * probe per port survives; the result is sorted by port.
 */
export function mergeProbes(layers: Partial<Record<ProbeSource, readonly HealthProbe[]>>): DeclaredProbe[] {
  const out = new Map<number, DeclaredProbe>();
  for (const source of PROBE_SOURCES) {
    for (const p of layers[source] ?? []) if (!out.has(p.port)) out.set(p.port, { ...p, source });
  }
  return [...out.values()].sort((a, b) => a.port - b.port);
}

/** The wire form (proto HealthProbe): proto3 has no optional scalars, so "" / 0 mean "not given". */
export interface WireProbe {
  port: number;
  type: string;
  path: string;
  periodSeconds: number;
  timeoutSeconds: number;
  successThreshold: number;
  failureThreshold: number;
}

export function toWireProbe(p: HealthProbe): WireProbe {
  return { port: p.port, type: p.type, path: p.path ?? "", periodSeconds: p.periodSeconds, timeoutSeconds: p.timeoutSeconds, successThreshold: p.successThreshold, failureThreshold: p.failureThreshold };
}

/** Validated probes from the wire; a bad one is dropped and named in `rejected`, so one mistake does not silence the rest. */
export function fromWireProbes(list: readonly WireProbe[]): { probes: HealthProbe[]; rejected: string[] } {
  const probes: HealthProbe[] = [];
  const rejected: string[] = [];
  const seen = new Set<number>();
  for (const w of list) {
    const parsed = healthProbeSchema.safeParse({
      port: w.port, type: w.type,
      ...(w.path === "" ? {} : { path: w.path }),
      ...(w.periodSeconds > 0 ? { periodSeconds: w.periodSeconds } : {}),
      ...(w.timeoutSeconds > 0 ? { timeoutSeconds: w.timeoutSeconds } : {}),
      ...(w.successThreshold > 0 ? { successThreshold: w.successThreshold } : {}),
      ...(w.failureThreshold > 0 ? { failureThreshold: w.failureThreshold } : {}),
    });
    if (!parsed.success) rejected.push(`port ${w.port}: ${probeIssue(parsed.error)}`);
    else if (seen.has(parsed.data.port)) rejected.push(`port ${w.port}: two probes for this port`);
    else {
      seen.add(parsed.data.port);
      probes.push(parsed.data);
    }
  }
  return { probes, rejected };
}
