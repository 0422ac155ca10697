/**
 * The gRPC part of the sidecars scenario (bench/sidecars.ts): a Books gRPC
 * server (test/helpers/grpc-books.ts) as one more service, `bench/books` on
 * 127.0.0.52:14002, whose port is declared grpc, and the policy that lets
 * `bench/client` call its GetBook. The client's app is the forked
 * bench/sidecars-grpc-load.ts: one grpc-js channel to the server directly, or
 * to the client's outbound listener with `:authority books.bench:14002`, so a
 * call goes client Pipy → HTTP/2 over mTLS → server Pipy → h2c → server.
 */
import type { PortProtocols } from "../src/common/app-protocol.js";
import { startBooksServer, type BooksServer } from "../test/helpers/grpc-books.js";

export const GRPC_SERVER = { name: "books", ip: "127.0.0.52", port: 14002 } as const;

/** The declared protocol of the server's port, until providers declare protocols themselves. */
export const grpcProtocols = (namespace: string): Record<string, PortProtocols> => ({ [`${namespace}/${GRPC_SERVER.name}`]: { [String(GRPC_SERVER.port)]: "grpc" } });

export const grpcHostsEntry = (namespace: string): string =>
  `  - name: ${GRPC_SERVER.name}-1\n    address: ${GRPC_SERVER.ip}\n    services: [{ name: ${GRPC_SERVER.name}, namespace: ${namespace}, port: ${GRPC_SERVER.port} }]\n`;

export const grpcPolicyYaml = (namespace: string, client: string): string => `---
apiVersion: specs.smi-spec.io/v1alpha4
kind: HTTPRouteGroup
metadata: { name: books-routes, namespace: ${namespace} }
spec:
  matches: [{ name: get-book, pathRegex: '/meshfed\\.test\\.v1\\.Books/GetBook', methods: ["POST"] }]
---
apiVersion: access.smi-spec.io/v1alpha3
kind: TrafficTarget
metadata: { name: ${client}-to-${GRPC_SERVER.name}, namespace: ${namespace} }
spec:
  destination: { kind: ServiceAccount, name: ${GRPC_SERVER.name}, namespace: ${namespace} }
  rules: [{ kind: HTTPRouteGroup, name: books-routes, matches: [get-book] }]
  sources: [{ kind: ServiceAccount, name: ${client}, namespace: ${namespace} }]
`;

export function startGrpcApp(): Promise<BooksServer> {
  return startBooksServer(`${GRPC_SERVER.ip}:${GRPC_SERVER.port}`, GRPC_SERVER.name);
}
