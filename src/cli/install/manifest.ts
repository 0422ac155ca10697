/** One Kubernetes object of the install, as applied (plain JSON, no server fields). */
export interface Manifest {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { name: string; namespace?: string; labels: Record<string, string>; annotations?: Record<string, string> };
  readonly [field: string]: unknown;
}

/** `Kind namespace/name` (or `Kind name` when cluster-wide), for messages. */
export function describe(o: { kind?: string | undefined; metadata?: { name?: string | undefined; namespace?: string | undefined } | undefined }): string {
  const ns = o.metadata?.namespace;
  return `${o.kind ?? "?"} ${ns === undefined ? "" : `${ns}/`}${o.metadata?.name ?? "?"}`;
}
