import { MeshfedError } from "./errors.js";
import { compareStrings } from "./compare.js";

/** A service is named `namespace/name` everywhere: providers, SMI, certificates, APIs. */
export interface ServiceRef {
  readonly namespace: string;
  readonly name: string;
}

export type ServiceKey = string;

// RFC 1123 labels, as Kubernetes requires for namespaces and service names, so
// that a name given on a VM can also appear in a Kubernetes object and a DNS SAN.
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

export function isDnsLabel(value: string): boolean {
  return DNS_LABEL.test(value);
}

export function serviceKey(ref: ServiceRef): ServiceKey {
  return `${ref.namespace}/${ref.name}`;
}

export function parseServiceKey(key: string): ServiceRef {
  const parts = key.split("/");
  const [namespace, name] = parts;
  if (parts.length !== 2 || namespace === undefined || name === undefined || !isDnsLabel(namespace) || !isDnsLabel(name)) {
    throw new MeshfedError("MESHFED_INVALID_SERVICE", `"${key}" is not a service: expected namespace/name, each a DNS label`);
  }
  return { namespace, name };
}

export function compareServiceRefs(a: ServiceRef, b: ServiceRef): number {
  return a.namespace === b.namespace ? compareStrings(a.name, b.name) : compareStrings(a.namespace, b.namespace);
}
