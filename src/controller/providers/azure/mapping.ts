/**
 * Which service (and ports) an Azure instance belongs to. Pure, so tests and
 * `meshfed validate` can call it without ARM.
 *
 * Tags (names compared case-insensitively, as Azure does; `meshfed-` is the
 * configurable prefix; Azure tag names may not contain `/`):
 *   meshfed-service   = bookstore        (DNS label; required)
 *   meshfed-namespace = bookstore        (DNS label; default "default")
 *   meshfed-ports     = 14001,14002      (comma list; required; a port may
 *                       name its protocol: 14001/grpc,3306/tcp — http when not)
 *   meshfed-service-account = bookstore  (DNS-1123 subdomain; default: the
 *                       service's name, the identity before accounts existed)
 * A scale set's tags apply to its instances; an instance's own tag wins, key
 * by key. When none of the three tags is present, the first config rule whose
 * resourceGroup/scaleSet match applies. Any of the three present but unusable
 * is a "bad tag": the instance is reported and skipped, never guessed at.
 */
import type { AppProtocol } from "../../../common/app-protocol.js";
import { isServiceAccountName, PROTOCOL_CHOICES, splitProtocolSuffix } from "../../../common/declared-protocol.js";
import { isDnsLabel, type ServiceRef } from "../../../common/service.js";
import type { AzureRule } from "./config.js";

export type Tags = Readonly<Record<string, string>>;

export interface MappingInput {
  readonly resourceGroup: string;
  readonly scaleSet?: string | undefined;
  readonly tags?: Tags | undefined;
  readonly scaleSetTags?: Tags | undefined;
}

export type Mapping =
  | { readonly kind: "none" }
  | {
      readonly kind: "mapped";
      readonly service: ServiceRef;
      readonly ports: readonly number[];
      /** Declared protocols by port; a port not listed declares none (http). */
      readonly protocols?: Readonly<Record<number, AppProtocol>>;
      readonly serviceAccount?: string;
      readonly via: "tags" | "rule";
    }
  | { readonly kind: "bad"; readonly message: string };

const NONE: Mapping = { kind: "none" };

export function mapInstance(input: MappingInput, tagPrefix: string, rules: readonly AzureRule[]): Mapping {
  const keys = { service: `${tagPrefix}service`, namespace: `${tagPrefix}namespace`, ports: `${tagPrefix}ports`, account: `${tagPrefix}service-account` };
  const merged = mergeTags(input.scaleSetTags, input.tags);
  const service = merged.get(keys.service.toLowerCase());
  const namespace = merged.get(keys.namespace.toLowerCase());
  const ports = merged.get(keys.ports.toLowerCase());
  const account = merged.get(keys.account.toLowerCase())?.trim();
  if (service === undefined && namespace === undefined && ports === undefined) {
    // The account tag alone does not map an instance, but it still names the identity of a rule's instances.
    const rule = ruleFor(input, rules);
    if (rule?.kind !== "mapped" || account === undefined) return rule ?? NONE;
    if (!isServiceAccountName(account)) return { kind: "bad", message: `${keys.account}="${account}" is not a DNS-1123 subdomain` };
    return { ...rule, serviceAccount: account };
  }

  const problems: string[] = [];
  if (service === undefined) problems.push(`${keys.service} is missing (${[namespace === undefined ? "" : keys.namespace, ports === undefined ? "" : keys.ports].filter(Boolean).join(" and ")} given)`);
  else if (!isDnsLabel(service.trim())) problems.push(`${keys.service}="${service}" is not a DNS label`);
  const ns = namespace?.trim() ?? "default";
  if (!isDnsLabel(ns)) problems.push(`${keys.namespace}="${namespace}" is not a DNS label`);
  const parsedPorts = ports === undefined ? undefined : parsePortList(ports);
  if (ports === undefined) problems.push(`${keys.ports} is missing`);
  else if (parsedPorts === undefined) problems.push(`${keys.ports}="${ports}" is not a comma-separated list of ports 1-65535`);
  else if (typeof parsedPorts === "string") problems.push(`${keys.ports}="${ports}": ${parsedPorts}`);
  if (account !== undefined && !isServiceAccountName(account)) problems.push(`${keys.account}="${account}" is not a DNS-1123 subdomain`);
  if (problems.length > 0 || service === undefined || parsedPorts === undefined || typeof parsedPorts === "string") return { kind: "bad", message: problems.join("; ") };
  return {
    kind: "mapped", service: { namespace: ns, name: service.trim() }, ports: parsedPorts.ports,
    ...(Object.keys(parsedPorts.protocols).length > 0 ? { protocols: parsedPorts.protocols } : {}),
    ...(account === undefined ? {} : { serviceAccount: account }),
    via: "tags",
  };
}

/**
 * "14001/grpc, 3306/tcp, 8080" -> ports and the protocols they declare;
 * undefined when an element is not a port; a message when a protocol is
 * unknown or one port is declared twice with different protocols.
 */
export function parsePortList(text: string): { ports: number[]; protocols: Record<number, AppProtocol> } | string | undefined {
  const protocols: Record<number, AppProtocol> = {};
  const bare: string[] = [];
  for (const part of text.split(",")) {
    const split = splitProtocolSuffix(part.trim());
    if (split.bad !== undefined) return `protocol "${split.bad}" is not one of ${PROTOCOL_CHOICES}`;
    bare.push(split.address.trim());
    const port = Number(split.address.trim());
    if (split.protocol !== undefined) {
      if (protocols[port] !== undefined && protocols[port] !== split.protocol) return `port ${port} is declared as both ${protocols[port]} and ${split.protocol}`;
      protocols[port] = split.protocol;
    }
  }
  const ports = parsePorts(bare.join(","));
  return ports === undefined ? undefined : { ports, protocols };
}

/** "14001, 14002" -> [14001, 14002]; undefined when any element is not a port. Sorted, without duplicates. */
export function parsePorts(text: string): number[] | undefined {
  const parts = text.split(",").map((p) => p.trim());
  if (parts.length === 0 || parts.some((p) => !/^\d{1,5}$/.test(p))) return undefined;
  const ports = parts.map(Number);
  if (ports.some((p) => p < 1 || p > 65535)) return undefined;
  return [...new Set(ports)].sort((a, b) => a - b);
}

/**
 * ARM's tags are typed as strings, but the SDK does not check what arrives:
 * a value of another type is kept as NOT_A_STRING so that it becomes a named
 * bad tag on its instance instead of an exception that fails the whole scope.
 */
const NOT_A_STRING = "(not a string)";

function mergeTags(scaleSet: Tags | undefined, own: Tags | undefined): Map<string, string> {
  const merged = new Map<string, string>();
  for (const tags of [scaleSet, own]) {
    if (typeof tags !== "object" || tags === null || Array.isArray(tags)) continue;
    for (const [k, v] of Object.entries(tags) as Array<[string, unknown]>) merged.set(k.toLowerCase(), typeof v === "string" ? v : NOT_A_STRING);
  }
  return merged;
}

function ruleFor(input: MappingInput, rules: readonly AzureRule[]): Mapping | undefined {
  const rg = input.resourceGroup.toLowerCase();
  const ss = input.scaleSet?.toLowerCase();
  const rule = rules.find(
    (r) => (r.resourceGroup === undefined || r.resourceGroup.toLowerCase() === rg) && (r.scaleSet === undefined || r.scaleSet.toLowerCase() === ss),
  );
  if (rule === undefined) return undefined;
  return {
    kind: "mapped", service: { namespace: rule.namespace, name: rule.service }, ports: [...new Set(rule.ports)].sort((a, b) => a - b),
    ...(rule.serviceAccount === undefined ? {} : { serviceAccount: rule.serviceAccount }),
    via: "rule",
  };
}
