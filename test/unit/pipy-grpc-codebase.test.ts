// HTTP/2 and gRPC in the PipyJS codebase without Pipy (issue 15 item 2): how
// routing.js matches gRPC method paths, the gRPC-shaped answers of
// replies.js, and outbound.js's choice of HTTP version and of which requests
// may be replayed. The pipelines themselves run in test/pipy/grpc.test.ts.
import { test } from "node:test";
import assert from "node:assert/strict";
import { loadPipyModule, renderedConfig } from "../helpers/pipyjs.js";
import { grpcView } from "./pipy-fixtures.js";

const BOOKBUYER = "bookbuyer.bookbuyer.svc.cluster.local";
const grpcHead = (path: string, headers: Record<string, string> = {}) => ({ method: "POST", path, headers: { "content-type": "application/grpc", te: "trailers", ...headers } });

test("config.json: ports declared grpc / http2 render as such on inbound listeners and outbound services", () => {
  const config = renderedConfig(grpcView) as {
    inbound: { listeners: { port: number; protocol: string }[] };
    outbound: { services: { service: string; protocols: Record<string, string> }[] };
  };
  assert.deepEqual(Object.fromEntries(config.inbound.listeners.map((l) => [l.port, l.protocol])), { 8080: "http", 9090: "grpc", 9443: "http2" });
  assert.deepEqual(config.outbound.services.map((s) => [s.service, s.protocols]), [
    ["warehouse/warehouse", { 7070: "grpc" }],
    ["pricing/pricing", { 8080: "http", 8443: "http2" }],
  ]);
});

test("routing.js: an HTTPRouteGroup on gRPC method paths admits one method and refuses another", () => {
  const routing = loadPipyModule("/routing.js", { "/config.js": renderedConfig(grpcView) });
  const allowed = (peer: string, port: number, head: object) => routing.httpAllowed!(peer, port, head);
  const cases: [string, number, object, string][] = [
    ["GetBook", 9090, grpcHead("/bookstore.v1.Books/GetBook"), "bookstore/bookbuyer-grpc"],
    ["ListBooks (server streaming)", 9090, grpcHead("/bookstore.v1.Books/ListBooks"), "bookstore/bookbuyer-grpc"],
    ["content-type with a codec suffix", 9090, grpcHead("/bookstore.v1.Books/GetBook", { "content-type": "application/grpc+proto" }), "bookstore/bookbuyer-grpc"],
    ["a method the group does not name", 9090, grpcHead("/bookstore.v1.Books/DeleteBook"), ""],
    ["a method whose name only starts like an allowed one", 9090, grpcHead("/bookstore.v1.Books/GetBookAndDelete"), ""],
    ["another service with the same method", 9090, grpcHead("/bookstore.v1.Admin/GetBook"), ""],
    ["an escaped dot is a dot", 9090, grpcHead("/bookstoreXv1.Books/GetBook"), ""],
    ["not a gRPC content-type", 9090, grpcHead("/bookstore.v1.Books/GetBook", { "content-type": "application/json" }), ""],
    ["GET is not a gRPC call", 9090, { ...grpcHead("/bookstore.v1.Books/GetBook"), method: "GET" }, ""],
    ["the HTTP/2 port admits anything", 9443, grpcHead("/bookstore.v1.Books/DeleteBook"), "bookstore/bookbuyer-h2"],
  ];
  for (const [name, port, head, expected] of cases) assert.equal(allowed(BOOKBUYER, port, head), expected, name);
  assert.equal(allowed("bookthief.bookthief.svc.cluster.local", 9090, grpcHead("/bookstore.v1.Books/GetBook")), "", "a source no TrafficTarget names");
  assert.equal(routing.admitted!(BOOKBUYER, 9090), true);
  assert.equal(routing.admitted!(BOOKBUYER, 8080), false, "no TrafficTarget for the HTTP/1 port: refused at the handshake");
});

/** Stands in for Pipy's Message: keeps what the script passed. */
class FakeMessage {
  constructor(readonly head: { status: number; headers: Record<string, string> }, readonly body: unknown, readonly tail?: { headers: Record<string, string> }) {}
}

test("replies.js: a gRPC request is refused with HTTP 200 and grpc-status trailers, anything else with the HTTP status", () => {
  const replies = loadPipyModule("/replies.js", {}, { Message: FakeMessage });
  const denied = replies.reply!(grpcHead("/bookstore.v1.Books/DeleteBook"), 403, "meshfed: 100% refused") as FakeMessage;
  assert.equal(denied.head.status, 200, "gRPC status lives in the trailers; HTTP says the call was answered");
  assert.equal(denied.head.headers["content-type"], "application/grpc");
  assert.equal(denied.body, null, "no messages");
  assert.deepEqual(denied.tail, { headers: { "grpc-status": "7", "grpc-message": "meshfed: 100%25 refused" } }, "PERMISSION_DENIED, message percent-encoded");
  const codes = Object.fromEntries([403, 404, 502, 503, 504, 500].map((s) => [s, (replies.reply!(grpcHead("/x/y", { "content-type": "application/grpc+json" }), s, "t") as FakeMessage).tail!.headers["grpc-status"]]));
  assert.deepEqual(codes, { 403: "7", 404: "12", 502: "14", 503: "14", 504: "4", 500: "2" }, "PERMISSION_DENIED, UNIMPLEMENTED, UNAVAILABLE, DEADLINE_EXCEEDED, UNKNOWN");
  const plain = replies.reply!({ method: "GET", path: "/books", headers: { accept: "*/*" } }, 403, "meshfed: no") as FakeMessage;
  assert.equal(plain.head.status, 403);
  assert.equal(plain.body, "meshfed: no\n");
  assert.equal(plain.tail, undefined);
  assert.equal(replies.isGrpc!({ headers: { "content-type": "Application/GRPC" } }), true, "media types are case-insensitive");
  assert.equal(replies.isGrpc!({ headers: {} }), false);
});

test("replies.js: a Trailers-Only answer's status and metadata move to the trailers, content-type stays", () => {
  const replies = loadPipyModule("/replies.js", {}, { Message: FakeMessage });
  const split = replies.splitHeaders!({ "content-type": "application/grpc+proto", "grpc-status": "5", "grpc-message": "no book 404", "x-served-by": "v1" });
  assert.deepEqual(split, { head: { "content-type": "application/grpc+proto" }, tail: { "grpc-status": "5", "grpc-message": "no book 404", "x-served-by": "v1" } });
});

test("outbound.js: HTTP/2 towards peers for http2/grpc ports; only short HTTP/2 requests are replayable", () => {
  const config = renderedConfig(grpcView);
  const replies = loadPipyModule("/replies.js", {}, { Message: FakeMessage });
  const stub = {};
  const outbound = loadPipyModule("/outbound.js", {
    "/config.js": config, "/tls.js": stub, "/routing.js": stub, "/balancing.js": stub, "/metrics.js": stub, "/replies.js": replies,
    "/retry.js": { limitsOf: () => null }, "/circuit-breaker.js": stub,
  });
  const h2 = (index: number, port: number) => outbound.h2Port!(index, port);
  assert.equal(h2(0, 7070), true, "warehouse gRPC port");
  assert.equal(h2(0, 0), true, "no port in :authority, the service's only port is gRPC");
  assert.equal(h2(0, 9999), true, "a port the service does not list: its ports agree");
  assert.equal(h2(1, 8443), true, "pricing's HTTP/2 port");
  assert.equal(h2(1, 8080), false, "pricing's HTTP/1 port");
  assert.equal(h2(1, 0), false, "no port and the service's ports disagree: HTTP/1.1, which every peer reads");
  const replayable = (head: object) => outbound.replayable!(head);
  assert.equal(replayable(grpcHead("/bookstore.v1.Books/GetBook", { "content-length": "12" })), false, "a gRPC call is never replayed");
  assert.equal(replayable({ method: "GET", path: "/", headers: {} }), true);
  assert.equal(replayable({ method: "POST", path: "/", headers: { "content-length": "12" } }), true);
  assert.equal(replayable({ method: "POST", path: "/", headers: {} }), false, "a body of unknown length may be a stream");
  assert.equal(replayable({ method: "PUT", path: "/", headers: { "content-length": String(2 * 1024 * 1024) } }), false, "too long to keep");
});
