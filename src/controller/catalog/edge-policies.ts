/**
 * The glue between the catalog's indexes and the two edge policies of a
 * proxy's view: Egress (traffic leaving the mesh, egress-view.ts) and
 * IngressBackend (traffic entering it, ingress-view.ts). Kept apart so that
 * proxy-view.ts only calls in, and the policy modules stay testable with
 * plain inputs.
 */
import type { ServiceKey, ServiceRef } from "../../common/service.js";
import type { IdentityRef } from "../spec/types.js";
import type { EndpointIndex } from "./endpoint-index.js";
import { egressMeshCandidates, egressView, type EgressView } from "./egress-view.js";
import { ingressRules, ingressSourceServices, type IngressRule } from "./ingress-view.js";
import type { SpecIndex } from "./spec-index.js";

/** The egress part of the view and the ingress rules of its inbound ports (each absent when no policy applies). */
export function edgePolicyParts(
  index: EndpointIndex, spec: SpecIndex, identity: IdentityRef, service: ServiceRef, ports: readonly number[],
): { egress?: EgressView; ingress?: IngressRule[] } {
  const routeGroup = (namespace: string, name: string) => spec.routeGroup(namespace, name);
  const egress = egressView(identity, {
    egresses: spec.policies.egresses, routeGroup,
    isMeshService: (key) => index.has(key) || spec.splitFor(key) !== undefined,
  });
  const ingress = ingressRules(service, ports, {
    ingressBackends: spec.policies.ingressBackends, routeGroup,
    endpointsOf: (key) => (index.service(key)?.endpoints ?? []).map((e) => ({ ip: e.ip, port: e.port })),
  });
  return { ...(egress ? { egress } : {}), ...(ingress ? { ingress } : {}) };
}

/**
 * Services whose changes can change those parts: the ingress sources (their
 * endpoints are the allowed addresses) and the mesh services an Egress host
 * could name (one appearing makes that host a mesh route).
 */
export function edgePolicyDependencies(spec: SpecIndex, identity: IdentityRef, service: ServiceRef): ServiceKey[] {
  return [...ingressSourceServices(service, spec.policies.ingressBackends), ...egressMeshCandidates(identity, spec.policies.egresses)];
}
