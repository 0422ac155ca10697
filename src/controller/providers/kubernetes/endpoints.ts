/**
 * From a Service, its EndpointSlices and their pods to the endpoints the
 * catalog sees. Pure, so the rules are tested without an API server.
 *
 * - Only addressType IPv4 and IPv6 (FQDN slices name no IP); each address is
 *   checked to be of the slice's family, IPv6 written in lower case.
 * - An endpoint counts unless `conditions.ready` is explicitly false: the
 *   EndpointSlice API defines an unset condition as ready ("unknown state
 *   should be interpreted as ready").
 * - Ports: the slice's port number, which the EndpointSlice controller
 *   already resolved from the Service's (possibly named) targetPort per pod.
 *   A slice port without a number (allowed on hand-made slices, "all ports")
 *   is resolved through the Service port of the same name: a numeric
 *   targetPort directly, a named one through the backing pod's container
 *   ports. Unresolvable pairs are left out and counted.
 * - Only TCP: Pipy proxies TCP; UDP and SCTP ports are not meshed.
 * - Protocol: the slice port's appProtocol, else the Service port's of the
 *   same name, else the port name's prefix (app-protocol.ts); none = http.
 * - Identity: the ServiceAccount of the pod behind the endpoint (targetRef),
 *   as in osm-edge. An endpoint whose pod is not (yet) in the cache, or
 *   that names no pod (hand-made slices), declares none: the service's name.
 *   Every pod consulted is a dependency, so its arrival recomputes.
 * - Provenance: `<namespace>/<slice-name>`.
 */
import { compareEndpoints, declared } from "../endpoint-lists.js";
import { kubernetesPortProtocol } from "./app-protocol.js";
import { isIP } from "node:net";
import type { ProviderEndpoint } from "../types.js";
import type { PodInfo, ServiceInfo, SliceInfo } from "../../kube/objects.js";

export interface ComputedEndpoints {
  readonly endpoints: readonly ProviderEndpoint[];
  /** Pods whose container ports were consulted (a change to them may change the result). */
  readonly pods: readonly string[];
  /** (address, port) pairs whose port could not be resolved. */
  readonly unresolved: number;
}

const FAMILY: Readonly<Record<string, 4 | 6>> = { IPv4: 4, IPv6: 6 };

export function computeEndpoints(service: ServiceInfo, slices: readonly SliceInfo[], pod: (name: string) => PodInfo | undefined): ComputedEndpoints {
  const out = new Map<string, ProviderEndpoint>();
  const pods = new Set<string>();
  let unresolved = 0;
  for (const slice of slices) {
    const family = FAMILY[slice.addressType];
    if (family === undefined) continue;
    const source = `${slice.namespace}/${slice.name}`;
    for (const sp of slice.ports) {
      if (sp.protocol !== "TCP") continue;
      const named = service.ports.find((p) => p.name === sp.name);
      const servicePort = sp.port === undefined ? named : undefined;
      const protocol = kubernetesPortProtocol(sp.appProtocol ?? named?.appProtocol, sp.name);
      for (const ep of slice.endpoints) {
        if (!ep.ready) continue;
        let serviceAccount: string | undefined;
        if (ep.pod !== undefined) {
          pods.add(ep.pod);
          serviceAccount = pod(ep.pod)?.serviceAccount;
        }
        let port = sp.port;
        if (port === undefined && servicePort !== undefined) {
          const target = servicePort.targetPort ?? servicePort.port;
          if (typeof target === "number") port = target;
          else if (/^\d+$/.test(target)) port = Number(target);
          else if (ep.pod !== undefined) port = pod(ep.pod)?.namedPorts[target];
        }
        if (port === undefined || !Number.isInteger(port) || port < 1 || port > 65535) {
          unresolved += ep.addresses.length;
          continue;
        }
        for (const address of ep.addresses) {
          if (isIP(address) !== family) continue;
          const ip = address.toLowerCase();
          const key = `${ip}|${port}|${source}`;
          if (!out.has(key)) out.set(key, { ip, port, source, ...declared({ protocol, serviceAccount }) });
        }
      }
    }
  }
  return { endpoints: Object.freeze([...out.values()].sort(compareEndpoints)), pods: [...pods], unresolved };
}

export { sameEndpoints } from "../endpoint-lists.js";
