/**
 * Where the agent's certificates stand against the wall clock, for /status
 * and the outage warnings. While the controller is away nothing renews the
 * service certificate; these states tell an operator how much of the outage
 * budget (docs/certificates.md) is left before mTLS between services fails.
 */
export type CertificateValidity = "valid" | "renewal-due" | "expired";

export function certificateValidity(now: Date, notAfter: string, renewAt?: string): CertificateValidity | undefined {
  const end = Date.parse(notAfter);
  if (Number.isNaN(end)) return undefined;
  if (now.getTime() >= end) return "expired";
  const due = renewAt === undefined ? Number.NaN : Date.parse(renewAt);
  return !Number.isNaN(due) && now.getTime() >= due ? "renewal-due" : "valid";
}
