// A driver that renders with the Pipy driver after declaring port protocols
// by hand: the providers' own declarations (appProtocol, hosts-file
// `protocol:`, tags) are another change's work, and the sidecar tests need
// gRPC ports now. Keyed by service ("ns/name"); a service not listed is left
// as the catalog made it.
import type { PortProtocols } from "../../src/common/app-protocol.js";
import { serviceKey, type ServiceRef } from "../../src/common/service.js";
import type { ProxyView } from "../../src/controller/catalog/types.js";
import type { SidecarDriver } from "../../src/controller/drivers/types.js";

export function withDeclaredProtocols(view: ProxyView, declared: Readonly<Record<string, PortProtocols>>): ProxyView {
  const of = (s: ServiceRef) => declared[serviceKey(s)];
  const inbound = of(view.proxy.service);
  return {
    ...view,
    inbound: inbound === undefined ? view.inbound : { ...view.inbound, protocols: inbound },
    outbound: view.outbound.map((o) => ({
      ...o,
      ...(of(o.service) !== undefined ? { protocols: of(o.service) } : {}),
      ...(o.split
        ? { split: { ...o.split, backends: o.split.backends.map((b) => ({ ...b, ...(of(b.service) !== undefined ? { protocols: of(b.service) } : {}) })) } }
        : {}),
    })),
  };
}

export function declaringProtocols(driver: SidecarDriver, declared: Readonly<Record<string, PortProtocols>>): SidecarDriver {
  return { name: driver.name, render: (view) => driver.render(withDeclaredProtocols(view, declared)) };
}
