import { serviceKey, type ServiceKey } from "../../common/service.js";
import type { CertificateRecord } from "../certificates/types.js";
import type { EndpointIndex } from "./endpoint-index.js";
import type { ConnectedProxy, EndpointHealthView, IncompleteParticipant, Leg, Participant, ParticipantsReport } from "./types.js";

/**
 * Participants = issued proxy certificates ∩ connected proxies ∩ discovered
 * endpoints (DESIGN.md §1). The join: a connected proxy of service S, whose
 * certificate is live in the registry, fronts the endpoints of S on its host
 * addresses. For an agent those are its host's addresses (Hello); for a pod's
 * sidecar polling the repo they are the pod's IPs, found through the
 * `meshfed.io/proxy-id` annotation the injector put on the pod, so the
 * EndpointSlice entries of that pod are what it fronts. Everything that is in one or two of the three sets is reported
 * once, as what it is (endpoint, certificate, proxy), with the legs it lacks.
 */
export function computeParticipants(
  index: EndpointIndex,
  certificates: Iterable<CertificateRecord>,
  connected: Iterable<ConnectedProxy>,
  health: (service: ServiceKey, ip: string, port: number) => EndpointHealthView | undefined = () => undefined,
): ParticipantsReport {
  const liveCerts = new Map<string, CertificateRecord>();
  const servicesWithCerts = new Set<ServiceKey>();
  for (const c of certificates) {
    if (c.kind !== "proxy" || (c.state !== "unclaimed" && c.state !== "claimed")) continue;
    liveCerts.set(c.serial, c);
    servicesWithCerts.add(c.service);
  }

  const participants: Participant[] = [];
  const incomplete: IncompleteParticipant[] = [];
  const frontedEndpoints = new Set<string>();
  const connectedSerials = new Set<string>();
  const servicesWithProxies = new Set<ServiceKey>();

  for (const proxy of connected) {
    const key = serviceKey(proxy.service);
    connectedSerials.add(proxy.serial);
    servicesWithProxies.add(key);
    const hosts = new Set(proxy.addresses);
    const endpoints = (index.service(key)?.endpoints ?? []).filter((e) => hosts.has(e.ip)).map((e) => {
      // An unhealthy endpoint is still a participant (its proxy serves, its app does not): shown with why.
      const h = health(key, e.ip, e.port);
      return { ip: e.ip, port: e.port, ...(h === undefined ? {} : { health: h }) };
    });
    const missing: Leg[] = [];
    const where = { ...(proxy.pod === undefined ? {} : { pod: proxy.pod }), ...(proxy.replicaId === undefined ? {} : { replicaId: proxy.replicaId }) };
    if (!liveCerts.has(proxy.serial)) missing.push("issued");
    if (endpoints.length === 0) missing.push("discovered");
    if (missing.length === 0) {
      // The control plane's answer when it has one; else the account of the endpoints it fronts (a pod's).
      const fronted = (index.service(key)?.endpoints ?? []).filter((e) => hosts.has(e.ip)).map((e) => e.serviceAccount).sort();
      const identity = proxy.identity ?? `${proxy.service.namespace}/${fronted[0] ?? proxy.service.name}`;
      participants.push({ service: key, identity, proxyId: proxy.proxyId, serial: proxy.serial, endpoints, ...where });
      for (const e of endpoints) frontedEndpoints.add(`${key}|${e.ip}|${e.port}`);
    } else {
      incomplete.push({ kind: "proxy", service: key, proxyId: proxy.proxyId, serial: proxy.serial, ...where, missing });
    }
  }

  for (const cert of liveCerts.values()) {
    if (connectedSerials.has(cert.serial)) continue;
    const missing: Leg[] = ["connected"];
    if ((index.service(cert.service)?.endpoints.length ?? 0) === 0) missing.push("discovered");
    incomplete.push({ kind: "certificate", service: cert.service, serial: cert.serial, ...(cert.proxyId ? { proxyId: cert.proxyId } : {}), missing });
  }

  for (const service of index.services()) {
    const key = `${service.namespace}/${service.name}`;
    for (const e of service.endpoints) {
      if (frontedEndpoints.has(`${key}|${e.ip}|${e.port}`)) continue;
      const missing: Leg[] = [];
      if (!servicesWithCerts.has(key)) missing.push("issued");
      missing.push("connected");
      incomplete.push({ kind: "endpoint", service: key, ip: e.ip, port: e.port, sources: e.sources, missing });
    }
  }
  return { participants, incomplete };
}
