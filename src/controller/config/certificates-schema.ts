/**
 * The `certificates:` section of the controller config. Lifetimes are either
 * given one by one or derived from `outageBudget` (docs/certificates.md,
 * "Outage budget"); given both ways, they must agree, and a config that
 * promises an outage budget its lifetimes cannot keep is refused at load.
 */
import { z } from "zod";
import { durationSchema } from "../../common/config-schema.js";
import { formatDuration } from "../../common/duration.js";
import { lifetimeForOutageBudget, outageBudgetProblem, RENEWAL_LEAD_MS } from "../certificates/outage-budget.js";
import { DEFAULT_RENEW_BEFORE, validateLifetimeConfig, type RenewBefore, type ServiceLifetimeConfig } from "../certificates/renewal.js";

const DAY = 24 * 3_600_000;
const DEFAULT_SERVICE_VALIDITY = DAY;

export interface CertificatesConfig {
  readonly proxyValidity: number;
  readonly serviceValidity: number;
  readonly serviceJitter: number;
  readonly renewBefore: RenewBefore;
  /** ms; undefined when not configured (the lifetimes then promise only what survivableOutageMs says). */
  readonly outageBudget: number | undefined;
}

export const certificatesConfigSchema = z.strictObject({
  proxyValidity: durationSchema.default(365 * DAY),
  /** "Survive this long without the controller": derives serviceValidity and the renewal point. */
  outageBudget: durationSchema.optional(),
  /** Default 24 h, or 2 × (outageBudget + renewal lead) with a budget. */
  serviceValidity: durationSchema.optional(),
  serviceJitter: durationSchema.default(3_600_000),
  /**
   * Renew when this fraction of the (jittered) lifetime is left: 1/3 renews
   * after two thirds. Default 1/3, or "outageBudget + renewal lead before
   * expiry" with a budget.
   */
  serviceRenewBefore: z.number().gt(0).lt(1).optional(),
}).prefault({}).transform((c, ctx): CertificatesConfig => {
  const budget = c.outageBudget;
  const derived = budget === undefined ? undefined : lifetimeForOutageBudget(budget, c.serviceJitter);
  const lifetime: ServiceLifetimeConfig = {
    validity: c.serviceValidity ?? derived?.validity ?? DEFAULT_SERVICE_VALIDITY,
    jitter: c.serviceJitter,
    renewBefore: c.serviceRenewBefore !== undefined ? { fraction: c.serviceRenewBefore } : derived?.renewBefore ?? DEFAULT_RENEW_BEFORE,
  };
  // The budget first: "survives only 22h of the 24h budget" says more than
  // the renewal arithmetic (validateLifetimeConfig) that trips over the same values.
  if (budget !== undefined && c.serviceValidity === undefined && c.serviceJitter >= budget + RENEWAL_LEAD_MS) {
    ctx.addIssue({ code: "custom", message: `serviceJitter ${formatDuration(c.serviceJitter)} must be shorter than outageBudget ${formatDuration(budget)} plus the ${formatDuration(RENEWAL_LEAD_MS)} renewal lead`, path: ["serviceJitter"] });
    return z.NEVER;
  }
  if (budget !== undefined) {
    const problem = outageBudgetProblem(budget, lifetime, c.proxyValidity);
    if (problem !== undefined) {
      ctx.addIssue({ code: "custom", message: problem, path: [c.serviceValidity !== undefined ? "serviceValidity" : "outageBudget"] });
      return z.NEVER;
    }
  }
  try {
    validateLifetimeConfig(lifetime);
  } catch (err) {
    ctx.addIssue({ code: "custom", message: (err as Error).message, path: [c.serviceValidity !== undefined ? "serviceValidity" : "serviceJitter"] });
    return z.NEVER;
  }
  return { proxyValidity: c.proxyValidity, serviceValidity: lifetime.validity, serviceJitter: lifetime.jitter, renewBefore: lifetime.renewBefore, outageBudget: budget };
});
