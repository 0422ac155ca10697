/**
 * Service certificate lifetimes and the renewal rule (docs/certificates.md,
 * "Validity, jitter and renewal"). Pure functions of their inputs, so the
 * rule can be tested without a CA and a restart recomputes the same renewAt.
 */
import { CERT_ERROR, certError } from "./errors.js";

/**
 * When to replace a service certificate, counted back from its notAfter:
 *  - `{ fraction: f }` renews once (1 − f) of the lifetime has passed,
 *    i.e. renewAt = notAfter − f × (notAfter − notBefore);
 *  - `{ ms: m }` renews at notAfter − m.
 * Both follow the jittered notAfter, so renewals spread as expiries do.
 */
export type RenewBefore = { readonly fraction: number } | { readonly ms: number };

/** Default: renew when a third of the lifetime remains (2/3 has passed). */
export const DEFAULT_RENEW_BEFORE: RenewBefore = { fraction: 1 / 3 };

export interface ServiceLifetimeConfig {
  /** Nominal lifetime, ms. */
  readonly validity: number;
  /** Half-width of the uniform jitter window, ms: lifetime ∈ [validity − jitter, validity + jitter]. */
  readonly jitter: number;
  readonly renewBefore: RenewBefore;
}

export function validateLifetimeConfig(config: ServiceLifetimeConfig): ServiceLifetimeConfig {
  const { validity, jitter, renewBefore } = config;
  if (!Number.isFinite(validity) || validity < 60_000) {
    throw certError(CERT_ERROR.config, `service validity ${validity} ms must be at least one minute`);
  }
  if (!Number.isFinite(jitter) || jitter < 0 || jitter >= validity / 2) {
    throw certError(CERT_ERROR.config, `service jitter ${jitter} ms must be ≥ 0 and less than half the validity (${validity} ms)`);
  }
  if ("fraction" in renewBefore) {
    if (!(renewBefore.fraction > 0 && renewBefore.fraction < 1)) {
      throw certError(CERT_ERROR.config, `renewBefore.fraction ${renewBefore.fraction} must be in (0, 1)`);
    }
  } else if (!(renewBefore.ms > 0 && renewBefore.ms < validity - jitter)) {
    // Otherwise the shortest certificate would be due for renewal the moment it is issued.
    throw certError(CERT_ERROR.config, `renewBefore.ms ${renewBefore.ms} must be positive and shorter than the shortest lifetime (${validity - jitter} ms)`);
  }
  return config;
}

/** A lifetime drawn uniformly from [validity − jitter, validity + jitter]; `random` returns [0, 1). */
export function jitteredLifetime(config: ServiceLifetimeConfig, random: () => number): number {
  const r = Math.min(Math.max(random(), 0), 1);
  return Math.round(config.validity + (2 * r - 1) * config.jitter);
}

export function renewAt(notBefore: Date, notAfter: Date, rule: RenewBefore): Date {
  const end = notAfter.getTime();
  const lifetime = end - notBefore.getTime();
  const before = "fraction" in rule ? rule.fraction * lifetime : Math.min(rule.ms, lifetime);
  return new Date(Math.round(end - before));
}
