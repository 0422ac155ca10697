/**
 * Names of the two certificate kinds (docs/certificates.md, "Identities").
 * Pure functions: the CSR validator compares against them and the CA writes
 * them; nothing is ever copied from a CSR.
 */
import { isServiceAccountName } from "../../common/declared-protocol.js";
import { isDnsLabel, serviceKey, type ServiceRef } from "../../common/service.js";
import { CERT_ERROR, certError } from "./errors.js";
import type { ProxyIdentity } from "./types.js";

// Canonical lower-case form only: the UUID becomes a DNS label of the CN, and
// two spellings of one proxy must never produce two identities.
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const PROXY_KINDS: ReadonlySet<string> = new Set(["agent", "sidecar"]);
const MAX_DNS_NAME = 253;

export interface CertificateNames {
  /** SPIFFE ID, written as the URI SAN. */
  readonly uri: string;
  /** Subject CN, also written as the only DNS SAN. */
  readonly dns: string;
}

export function isDnsName(value: string): boolean {
  return value.length <= MAX_DNS_NAME && value.split(".").every(isDnsLabel);
}

export function validateTrustDomain(trustDomain: string): string {
  if (!isDnsName(trustDomain)) {
    throw certError(CERT_ERROR.config, `trust domain "${trustDomain}" is not a lower-case DNS name`);
  }
  return trustDomain;
}

export function validateService(service: ServiceRef): void {
  // Typed callers cannot pass a non-object, but this sits behind the enrolment API.
  if (typeof service !== "object" || service === null || typeof service.namespace !== "string" || typeof service.name !== "string") {
    throw certError(CERT_ERROR.invalidIdentity, "the service must be { namespace, name }");
  }
  if (!isDnsLabel(service.namespace) || !isDnsLabel(service.name)) {
    throw certError(CERT_ERROR.invalidIdentity, `service "${service.namespace}/${service.name}": namespace and name must be DNS labels`, {
      details: { service: `${service.namespace}/${service.name}` },
    });
  }
}

export function validateProxyIdentity(identity: ProxyIdentity): void {
  if (typeof identity !== "object" || identity === null || typeof identity.proxyId !== "string") {
    throw certError(CERT_ERROR.invalidIdentity, "the proxy identity must be { proxyId, kind, service }");
  }
  if (!UUID.test(identity.proxyId)) {
    throw certError(CERT_ERROR.invalidIdentity, `proxy id "${identity.proxyId}" is not a lower-case UUID`, { details: { proxyId: identity.proxyId } });
  }
  if (!PROXY_KINDS.has(identity.kind)) {
    throw certError(CERT_ERROR.invalidIdentity, `proxy kind "${String(identity.kind)}" is not agent or sidecar`, { details: { proxyId: identity.proxyId } });
  }
  validateService(identity.service);
  if (identity.serviceAccount !== undefined && (typeof identity.serviceAccount !== "string" || !isServiceAccountName(identity.serviceAccount))) {
    throw certError(CERT_ERROR.invalidIdentity, `service account "${String(identity.serviceAccount)}" is not a DNS-1123 subdomain`, { details: { proxyId: identity.proxyId } });
  }
}

/** The account's SPIFFE ID: spiffe://<td>/ns/<ns>/sa/<sa> (osm-edge's and Istio's shape). */
export function accountUri(namespace: string, account: string, trustDomain: string): string {
  return `spiffe://${trustDomain}/ns/${namespace}/sa/${account}`;
}

/** spiffe://<td>/ns/<ns>/svc/<name>/proxy/<uuid>; CN <uuid>.<kind>.<name>.<ns>.<td>. */
export function proxyNames(identity: ProxyIdentity, trustDomain: string): CertificateNames {
  validateProxyIdentity(identity);
  const { namespace, name } = identity.service;
  const dns = `${identity.proxyId}.${identity.kind}.${name}.${namespace}.${trustDomain}`;
  if (!isDnsName(dns)) {
    throw certError(CERT_ERROR.invalidIdentity, `proxy name "${dns}" exceeds ${MAX_DNS_NAME} characters`, { details: { proxyId: identity.proxyId } });
  }
  return { uri: `spiffe://${trustDomain}/ns/${namespace}/svc/${name}/proxy/${identity.proxyId}`, dns };
}

/**
 * The names of an identity's service certificate, `identity` being
 * `{ namespace, name: account }`: URI SAN spiffe://<td>/ns/<ns>/sa/<sa>; CN
 * and DNS SAN <sa>.<ns>.svc.<td>. The DNS name keeps the shape service
 * certificates had when the identity was the service (<name>.<ns>.svc.<td>),
 * so for the default account (the service's name) old and new certificates
 * prove the same name and a sidecar accepts both through a renewal. The
 * namespace is a DNS label, so the name is unambiguous although an account
 * may contain dots. The two names always agree (property-tested).
 */
export function serviceNames(identity: ServiceRef, trustDomain: string): CertificateNames {
  if (typeof identity !== "object" || identity === null || typeof identity.namespace !== "string" || typeof identity.name !== "string" || !isDnsLabel(identity.namespace) || !isServiceAccountName(identity.name)) {
    throw certError(CERT_ERROR.invalidIdentity, `identity "${String(identity?.namespace)}/${String(identity?.name)}": the namespace must be a DNS label and the account a DNS-1123 subdomain`);
  }
  const dns = `${identity.name}.${identity.namespace}.svc.${trustDomain}`;
  if (!isDnsName(dns)) {
    throw certError(CERT_ERROR.invalidIdentity, `service name "${dns}" exceeds ${MAX_DNS_NAME} characters`, { details: { service: serviceKey(identity) } });
  }
  return { uri: accountUri(identity.namespace, identity.name, trustDomain), dns };
}

/** The controller's own identity; agents accept a server certificate only if it carries this URI. */
export const CONTROLLER_PATH = "/meshfed/controller";

export function controllerNames(trustDomain: string): CertificateNames {
  return { uri: `spiffe://${trustDomain}${CONTROLLER_PATH}`, dns: `meshfed-controller.${trustDomain}` };
}
