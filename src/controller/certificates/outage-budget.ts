/**
 * The outage budget (docs/certificates.md, "Outage budget"): how long agents
 * must keep serving mTLS between services while no controller is reachable.
 * Service certificates are the only credential that runs out on that time
 * scale (proxy certificates last a year), so the budget fixes their lifetime
 * and renewal point. Pure functions, so the controller config, MeshConfig
 * hot reload and tests all apply the same arithmetic.
 *
 * The guarantee: the certificate an agent holds at the moment the controller
 * vanishes is still valid `budget` later. The controller replaces a service
 * certificate once `renewBefore` remains and pushes it within seconds to
 * connected agents, so an agent's certificate never has less than
 * `renewBefore − RENEWAL_LEAD` left; hence renewBefore = budget + lead.
 */
import { formatDuration } from "../../common/duration.js";
import { CERT_ERROR, certError } from "./errors.js";
import type { ServiceLifetimeConfig } from "./renewal.js";

/**
 * Slack between "the controller renewed" and "every connected agent holds
 * the new certificate": the push itself, an agent in reconnect backoff at
 * that moment (30 s cap by default), and clock skew between hosts.
 */
export const RENEWAL_LEAD_MS = 3_600_000;

/** Shorter budgets make no sense for a mesh, and mostly come from a unit typo ("24" read as 24 ms). */
export const MIN_OUTAGE_BUDGET_MS = 60_000;

/**
 * The service lifetimes a budget implies when none are given: renew once
 * `budget + lead` remains, and live twice that, so that each certificate
 * serves about `budget + lead` before it is replaced (renewals stay rare).
 * The jitter is kept as configured; `checkOutageBudget` bounds it.
 */
export function lifetimeForOutageBudget(budgetMs: number, jitterMs: number): ServiceLifetimeConfig {
  const renewBeforeMs = budgetMs + RENEWAL_LEAD_MS;
  return { validity: 2 * renewBeforeMs, jitter: jitterMs, renewBefore: { ms: renewBeforeMs } };
}

/**
 * The outage every agent survives under this lifetime: the least validity a
 * certificate has left when it is due for renewal, minus the lead. May be
 * negative for a lifetime that guarantees nothing.
 */
export function survivableOutageMs(lifetime: ServiceLifetimeConfig): number {
  const shortest = lifetime.validity - lifetime.jitter;
  const remainingAtRenewal = "fraction" in lifetime.renewBefore
    ? lifetime.renewBefore.fraction * shortest
    : Math.min(lifetime.renewBefore.ms, shortest);
  return remainingAtRenewal - RENEWAL_LEAD_MS;
}

/**
 * Why a lifetime (with a proxy validity) cannot honour the budget, as a
 * sentence naming the settings to change; undefined when it can.
 */
export function outageBudgetProblem(budgetMs: number, lifetime: ServiceLifetimeConfig, proxyValidityMs: number): string | undefined {
  if (!Number.isFinite(budgetMs) || budgetMs < MIN_OUTAGE_BUDGET_MS) {
    return `outageBudget ${formatDuration(budgetMs)} must be at least ${formatDuration(MIN_OUTAGE_BUDGET_MS)}`;
  }
  const survivable = survivableOutageMs(lifetime);
  if (survivable < budgetMs) {
    const shortest = lifetime.validity - lifetime.jitter;
    const rule = "fraction" in lifetime.renewBefore
      ? `serviceRenewBefore ${lifetime.renewBefore.fraction} of the shortest lifetime ${formatDuration(shortest)}`
      : `renewal ${formatDuration(lifetime.renewBefore.ms)} before expiry`;
    return `serviceValidity ${formatDuration(lifetime.validity)} ± serviceJitter ${formatDuration(lifetime.jitter)} with ${rule} `
      + `survives an outage of ${formatDuration(Math.max(0, Math.round(survivable)))} only (validity left at renewal minus the ${formatDuration(RENEWAL_LEAD_MS)} renewal lead), `
      + `less than outageBudget ${formatDuration(budgetMs)}; remove serviceValidity and serviceRenewBefore to derive them from the budget `
      + `(${formatDuration(2 * (budgetMs + RENEWAL_LEAD_MS))}, renewed ${formatDuration(budgetMs + RENEWAL_LEAD_MS)} before expiry)`;
  }
  if (proxyValidityMs < budgetMs + RENEWAL_LEAD_MS) {
    return `proxyValidity ${formatDuration(proxyValidityMs)} is shorter than outageBudget ${formatDuration(budgetMs)} plus the ${formatDuration(RENEWAL_LEAD_MS)} renewal lead`;
  }
  return undefined;
}

/** Throws MESHFED_CERT_CONFIG when the lifetime cannot honour the budget. */
export function checkOutageBudget(budgetMs: number, lifetime: ServiceLifetimeConfig, proxyValidityMs: number): void {
  const problem = outageBudgetProblem(budgetMs, lifetime, proxyValidityMs);
  if (problem !== undefined) throw certError(CERT_ERROR.config, problem, { details: { outageBudgetMs: budgetMs } });
}
