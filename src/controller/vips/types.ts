/**
 * Mesh virtual IPs: one stable IPv4 address per mesh service, what the
 * agents' DNS answers for `<svc>.<ns>.svc[.<trustDomain>]` (DESIGN.md §3
 * flow 6, docs/dataplane.md "Mesh names (DNS)"). The catalog reads them
 * through this interface only; the allocator (allocator.ts) keeps them in
 * the state store so that every replica and every restart agrees.
 */
import type { ServiceKey } from "../../common/service.js";

export interface VipSource {
  /** The service's VIP, or undefined (none allocated yet, or the range is exhausted). */
  vip(service: ServiceKey): string | undefined;
  /** Called with the services whose VIP was assigned, changed or released. */
  on(event: "change", fn: (services: readonly ServiceKey[]) => void): () => void;
}

export const VIP_ERRORS = {
  exhausted: "MESHFED_VIP_RANGE_EXHAUSTED",
  recordInvalid: "MESHFED_VIP_RECORD_INVALID",
} as const;
