/**
 * A Service port's mesh protocol, read the ways Kubernetes users already
 * declare it: `appProtocol` first (the field Kubernetes made for this), then
 * the port-name prefixes osm-edge and Istio honour (`http-`, `http2-`,
 * `grpc-`, `tcp-`, or the bare name). Nothing recognisable declares nothing,
 * and the catalog treats that as http. Pure, so the table is tested alone.
 */
import type { AppProtocol } from "../../../common/app-protocol.js";

const APP_PROTOCOL: Readonly<Record<string, AppProtocol>> = {
  http: "http",
  http2: "http2",
  h2c: "http2",
  "kubernetes.io/h2c": "http2",
  grpc: "grpc",
  tcp: "tcp",
};

const NAME_PREFIXES: ReadonlyArray<readonly [string, AppProtocol]> = [
  // http2 before http: "http2-web" must not read as "http" + "2-web".
  ["http2", "http2"],
  ["http", "http"],
  ["grpc", "grpc"],
  ["tcp", "tcp"],
];

export function kubernetesPortProtocol(appProtocol: string | undefined, portName: string): AppProtocol | undefined {
  if (appProtocol !== undefined) {
    const mapped = APP_PROTOCOL[appProtocol.trim().toLowerCase()];
    // An appProtocol we do not proxy specially (https, kubernetes.io/ws, a
    // vendor's name) still lets the port name speak, as in Istio.
    if (mapped !== undefined) return mapped;
  }
  const name = portName.toLowerCase();
  for (const [prefix, protocol] of NAME_PREFIXES) if (name === prefix || name.startsWith(`${prefix}-`)) return protocol;
  return undefined;
}
