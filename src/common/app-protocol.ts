/**
 * The application protocol of a service port (DESIGN.md §3 flow 6): it picks
 * the sidecar pipeline for that port. Shared by the providers (who read it
 * from appProtocol, port-name prefixes, hosts files, tags and agents), the
 * catalog and the drivers; "http" is the default wherever nothing is declared.
 */
export const APP_PROTOCOLS = ["http", "http2", "grpc", "tcp"] as const;

export type AppProtocol = (typeof APP_PROTOCOLS)[number];

export const DEFAULT_APP_PROTOCOL: AppProtocol = "http";

export function isAppProtocol(value: string): value is AppProtocol {
  return (APP_PROTOCOLS as readonly string[]).includes(value);
}

/** Protocol per service port, keyed by the port number as a string; a port not listed is "http". */
export type PortProtocols = Readonly<Record<string, AppProtocol>>;

/** How a proxy's host hands traffic to it: "transparent" = iptables capture (VM agent or pod init container). */
export type CaptureMode = "none" | "transparent";
