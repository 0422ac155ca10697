/**
 * Per-pod outbound capture settings, in osm-edge's style: comma-separated
 * annotations that add to the injector's configured lists
 * (docs/dataplane.md "Capture in pods"). A malformed annotation refuses the
 * pod with a message naming it, rather than starting a pod whose traffic
 * goes somewhere its owner did not ask for.
 */
import { ipv4Cidr } from "../../common/capture-rules.js";
import { MeshfedError } from "../../common/errors.js";
import type { OutboundCaptureLists } from "../drivers/types.js";

export const CAPTURE_ANNOTATIONS = {
  excludeOutboundIPRanges: "meshfed.io/outbound-ip-range-exclusion-list",
  excludeOutboundPorts: "meshfed.io/outbound-port-exclusion-list",
  includeOutboundIPRanges: "meshfed.io/outbound-ip-range-inclusion-list",
  includeOutboundPorts: "meshfed.io/outbound-port-inclusion-list",
  excludeInboundPorts: "meshfed.io/inbound-port-exclusion-list",
} as const;

export const ANNOTATION_INVALID = "MESHFED_INJECTOR_ANNOTATION_INVALID";

function items(annotations: Readonly<Record<string, string>>, key: string): string[] {
  return (annotations[key] ?? "").split(",").map((s) => s.trim()).filter((s) => s !== "");
}

function ports(annotations: Readonly<Record<string, string>>, key: string): number[] {
  return items(annotations, key).map((p) => {
    const n = Number(p);
    if (!/^\d+$/.test(p) || n < 1 || n > 65535) throw new MeshfedError(ANNOTATION_INVALID, `annotation ${key}: "${p}" is not a TCP port`);
    return n;
  });
}

function ranges(annotations: Readonly<Record<string, string>>, key: string): string[] {
  return items(annotations, key).map((r) => {
    try {
      ipv4Cidr(r);
    } catch {
      throw new MeshfedError(ANNOTATION_INVALID, `annotation ${key}: "${r}" is not an IPv4 address or CIDR range`);
    }
    return r;
  });
}

/** The configured lists plus the pod's annotations; throws MESHFED_INJECTOR_ANNOTATION_INVALID. */
export function podCaptureLists(
  configured: OutboundCaptureLists & { readonly excludeInboundPorts: readonly number[] },
  annotations: Readonly<Record<string, string>> | null | undefined,
): OutboundCaptureLists & { readonly excludeInboundPorts: number[] } {
  const a = annotations ?? {};
  return {
    controllerAddresses: [...configured.controllerAddresses],
    excludeOutboundIPRanges: [...configured.excludeOutboundIPRanges, ...ranges(a, CAPTURE_ANNOTATIONS.excludeOutboundIPRanges)],
    excludeOutboundPorts: [...configured.excludeOutboundPorts, ...ports(a, CAPTURE_ANNOTATIONS.excludeOutboundPorts)],
    includeOutboundIPRanges: [...configured.includeOutboundIPRanges, ...ranges(a, CAPTURE_ANNOTATIONS.includeOutboundIPRanges)],
    includeOutboundPorts: [...configured.includeOutboundPorts, ...ports(a, CAPTURE_ANNOTATIONS.includeOutboundPorts)],
    excludeInboundPorts: [...configured.excludeInboundPorts, ...ports(a, CAPTURE_ANNOTATIONS.excludeInboundPorts)],
  };
}
