// Real Pipy (issue 15 item 2): gRPC and HTTP/2 through two sidecars over mTLS.
// bookbuyer's app speaks h2c with prior knowledge to its sidecar's explicit
// listener; :authority names the service; the sidecars speak HTTP/2 (ALPN h2)
// to each other; the callee's sidecar speaks h2c to a @grpc/grpc-js server.
// Also: an HTTP/2 service and an HTTP/1 service, each with an endpoint that
// refuses connections, for the retry rules.
// Runs only with PIPY_BIN set: `PIPY_BIN=/path/to/pipy node --test dist/test/pipy/grpc.test.js`.
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import { createServer as createHttpServer, request } from "node:http";
import { connect as connectH2, createServer as createH2Server, type ClientHttp2Session, type IncomingHttpHeaders } from "node:http2";
import { status as GrpcStatus, type ServiceError } from "@grpc/grpc-js";
import { booksClient, startBooksServer, type BooksServer } from "../helpers/grpc-books.js";
import { OUTBOUND_PORT, startPipyMesh, type MeshHost } from "../helpers/pipy-mesh.js";
import { scaled, waitFor } from "../helpers/wait.js";
import { loopbackNet } from "../helpers/loopback-net.js";

const PIPY_BIN = process.env.PIPY_BIN;
// A /24 of loopback of our own, chosen per run, so that neither other real-Pipy tests nor another copy of the suite on this machine collide.
const host = loopbackNet();
const IP = { bookbuyer: host(10), v1: host(21), v2: host(31), ledger: host(41), ledgerDead: host(42), pricing: host(51), pricingDead: host(52) } as const;
const GRPC_PORT = 14001;
const LEDGER_PORT = 14002;
const PRICING_PORT = 14003;
const PEER = "bookbuyer.bookbuyer.svc.cluster.local";
const AUTHORITY = `bookstore.bookstore:${GRPC_PORT}`;

const hosts: MeshHost[] = [
  { service: "bookbuyer/bookbuyer", ip: IP.bookbuyer, port: GRPC_PORT },
  { service: "bookstore/bookstore-v1", ip: IP.v1, port: GRPC_PORT },
  { service: "bookstore/bookstore-v2", ip: IP.v2, port: GRPC_PORT },
  { service: "ledger/ledger", ip: IP.ledger, port: LEDGER_PORT },
  { service: "ledger/ledger", ip: IP.ledgerDead, port: LEDGER_PORT, sidecar: false },
  { service: "pricing/pricing", ip: IP.pricing, port: PRICING_PORT },
  { service: "pricing/pricing", ip: IP.pricingDead, port: PRICING_PORT, sidecar: false },
];

const grpc = { [String(GRPC_PORT)]: "grpc" } as const;
const protocols = { "bookstore/bookstore": grpc, "bookstore/bookstore-v1": grpc, "bookstore/bookstore-v2": grpc, "bookbuyer/bookbuyer": grpc, "pricing/pricing": { [String(PRICING_PORT)]: "http2" } } as const;

const allowAll = (ns: string, name: string) => `apiVersion: specs.smi-spec.io/v1alpha4
kind: HTTPRouteGroup
metadata: { name: ${name}-all, namespace: ${ns} }
spec:
  matches: [{ name: all, pathRegex: "/.*", methods: ["*"] }]
---
apiVersion: access.smi-spec.io/v1alpha3
kind: TrafficTarget
metadata: { name: bookbuyer-to-${name}, namespace: ${ns} }
spec:
  destination: { kind: ServiceAccount, name: ${name}, namespace: ${ns} }
  rules: [{ kind: HTTPRouteGroup, name: ${name}-all, matches: [all] }]
  sources: [{ kind: ServiceAccount, name: bookbuyer, namespace: bookbuyer }]
`;
// Four of the six methods; DeleteBook and Watch are left out.
const books = `apiVersion: specs.smi-spec.io/v1alpha4
kind: HTTPRouteGroup
metadata: { name: books-grpc, namespace: bookstore }
spec:
  matches: [{ name: read, pathRegex: '/meshfed\\.test\\.v1\\.Books/(GetBook|ListBooks|Collect|Chat)', methods: ["POST"], headers: { content-type: "application/grpc.*" } }]
${["bookstore-v1", "bookstore-v2"].map((d) => `---
apiVersion: access.smi-spec.io/v1alpha3
kind: TrafficTarget
metadata: { name: bookbuyer-to-${d}, namespace: bookstore }
spec:
  destination: { kind: ServiceAccount, name: ${d}, namespace: bookstore }
  rules: [{ kind: HTTPRouteGroup, name: books-grpc, matches: [read] }]
  sources: [{ kind: ServiceAccount, name: bookbuyer, namespace: bookbuyer }]
`).join("")}`;
const split = `apiVersion: split.smi-spec.io/v1alpha4
kind: TrafficSplit
metadata: { name: bookstore-split, namespace: bookstore }
spec:
  service: bookstore
  backends: [{ service: bookstore-v1, weight: 80 }, { service: bookstore-v2, weight: 20 }]
`;

async function listen(t: TestContext, server: import("node:net").Server, ip: string, port: number): Promise<void> {
  // The sidecar keeps idle connections to the app for a minute; close() alone would wait for them.
  const sockets = new Set<import("node:net").Socket>();
  server.on("connection", (s: import("node:net").Socket) => { sockets.add(s); s.once("close", () => sockets.delete(s)); });
  server.listen(port, ip);
  await once(server, "listening");
  t.after(() => new Promise<void>((r) => { server.close(() => r()); for (const s of sockets) s.destroy(); }));
}

interface H2Reply { status: number; headers: IncomingHttpHeaders; body: string; trailers: IncomingHttpHeaders }

/** One request on an HTTP/2 session; resolves with headers, body and trailers. */
function h2Request(session: ClientHttp2Session, headers: Record<string, string>, body?: Buffer): Promise<H2Reply> {
  return new Promise((resolve, reject) => {
    const req = session.request(headers, { endStream: body === undefined });
    let status = 0;
    let got: IncomingHttpHeaders = {};
    let trailers: IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    req.setTimeout(10_000, () => req.close());
    req.on("response", (h) => { got = h; status = Number(h[":status"]); });
    req.on("trailers", (h: IncomingHttpHeaders) => void (trailers = h));
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve({ status, headers: got, body: Buffer.concat(chunks).toString("utf8"), trailers }));
    req.on("error", reject);
    if (body !== undefined) req.end(body);
  });
}

function h1Get(host: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: IP.bookbuyer, port: OUTBOUND_PORT, path, headers: { host }, timeout: 10_000 }, (res) => {
      let body = "";
      res.setEncoding("utf8").on("data", (d: string) => (body += d)).on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
    req.end();
  });
}

const grpcCode = async (p: Promise<unknown>): Promise<{ code: GrpcStatus; details: string }> => {
  try {
    await p;
    return { code: GrpcStatus.OK, details: "" };
  } catch (err) {
    const e = err as ServiceError;
    return { code: e.code, details: e.details };
  }
};

test("gRPC and HTTP/2 through two real Pipy sidecars: streaming both ways, trailers, method-level deny, split, h2c prior knowledge, retries", { timeout: scaled(480_000) }, async (t) => {
  if (PIPY_BIN === undefined) return t.skip("PIPY_BIN not set: real Pipy tests skipped");

  const servers: Record<string, BooksServer> = {};
  for (const [name, ip] of [["bookstore-v1", IP.v1], ["bookstore-v2", IP.v2]] as const) {
    servers[name] = await startBooksServer(`${ip}:${GRPC_PORT}`, name);
    t.after(() => servers[name]!.close());
  }
  await listen(t, createHttpServer((req, res) => res.end(JSON.stringify({ service: "ledger", peer: req.headers["x-meshfed-peer-identity"] ?? null }))), IP.ledger, LEDGER_PORT);
  const pricing = createH2Server((req, res) => {
    // Answers after reading the whole body, so a POST's bytes are known to have arrived.
    let n = 0;
    req.on("data", (c: Buffer) => (n += c.length));
    req.on("end", () => res.end(JSON.stringify({ service: "pricing", method: req.method, bytes: n, http: req.httpVersion, peer: req.headers["x-meshfed-peer-identity"] ?? null })));
  });
  await listen(t, pricing, IP.pricing, PRICING_PORT);

  const t0 = Date.now();
  await startPipyMesh(t, {
    pipy: PIPY_BIN, hosts, protocols,
    policies: { books, split, ledger: allowAll("ledger", "ledger"), pricing: allowAll("pricing", "pricing") },
  });

  const client = booksClient(`${IP.bookbuyer}:${OUTBOUND_PORT}`, AUTHORITY);
  t.after(() => client.close());
  t.diagnostic(`mesh of 5 sidecars ready in ${Date.now() - t0} ms`);
  const t1 = Date.now();
  await waitFor(async () => (await grpcCode(client.getBook(1, 3_000))).code === GrpcStatus.OK, { what: "a unary call through both sidecars", timeoutMs: 60_000 });
  t.diagnostic(`first unary call through the sidecars answered after ${Date.now() - t1} ms`);

  // Unary: the callee's sidecar verified bookbuyer; the server's trailers arrive.
  const { book, trailers } = await client.getBook(42);
  assert.equal(book.id, 42);
  assert.equal(book.peer, PEER, "x-meshfed-peer-identity from bookbuyer's certificate");
  assert.deepEqual(trailers.get("x-served-by"), [book.servedBy], "custom trailer passed through");
  // A gRPC error from the server, with its own trailers, passes through untouched.
  const notFound = await client.getBook(404).then(() => assert.fail("404 is an error"), (e: ServiceError) => e);
  assert.equal(notFound.code, GrpcStatus.NOT_FOUND);
  assert.equal(notFound.details, "no book 404");
  assert.equal(notFound.metadata.get("x-served-by").length, 1);

  // TrafficSplit per call (one HTTP/2 connection from the app carries them all): 80/20 within ±5 %.
  const t2 = Date.now();
  const served: Record<string, number> = {};
  const n = 500;
  for (let i = 0; i < n; i++) {
    const r = await client.getBook(1000 + i);
    served[r.book.servedBy] = (served[r.book.servedBy] ?? 0) + 1;
  }
  const v1 = (served["bookstore-v1"] ?? 0) / n;
  t.diagnostic(`split over ${n} unary calls (${Date.now() - t2} ms, one at a time): ${JSON.stringify(served)}`);
  assert.ok(Math.abs(v1 - 0.8) <= 0.05, `bookstore-v1 share ${v1}`);

  // Server streaming: messages arrive as the server writes them (150 ms apart), not all at the end.
  const listed = await client.listBooks(5, 150);
  assert.deepEqual(listed.books.map((b) => b.id), [1, 2, 3, 4, 5]);
  const spread = listed.arrivals.at(-1)! - listed.arrivals[0]!;
  t.diagnostic(`server streaming: first to last message ${spread} ms`);
  assert.ok(spread >= 400, `messages were held back: first to last ${spread} ms`);
  assert.deepEqual(listed.trailers.get("x-books-sent"), ["5"]);

  // Client streaming and bidirectional ping-pong.
  const summary = await client.collect([3, 1, 4, 1, 5]);
  assert.deepEqual([summary.count, summary.ids], [5, [3, 1, 4, 1, 5]]);
  const chat = await client.chat([7, 8, 9]);
  assert.deepEqual(chat.map((b) => [b.id, b.peer]), [[7, PEER], [8, PEER], [9, PEER]]);

  // Methods the HTTPRouteGroup leaves out: PERMISSION_DENIED from the callee's sidecar, the server never sees them.
  const denied = await grpcCode(client.deleteBook(1));
  assert.deepEqual(denied, { code: GrpcStatus.PERMISSION_DENIED, details: "meshfed: no TrafficTarget admits this request" });
  const started = Date.now();
  const watch = await grpcCode(client.watch(8_000));
  assert.equal(watch.code, GrpcStatus.PERMISSION_DENIED, `a denied stream whose client waits ends at once (${watch.details})`);
  t.diagnostic(`denied client-waits stream answered in ${Date.now() - started} ms`);
  assert.equal(servers["bookstore-v1"]!.calls.DeleteBook ?? 0, 0);
  assert.equal((servers["bookstore-v1"]!.calls.Watch ?? 0) + (servers["bookstore-v2"]!.calls.Watch ?? 0), 0);

  // A plain HTTP/2 prior-knowledge client: a hand-framed gRPC call, answer and trailers.
  const h2 = connectH2(`http://${IP.bookbuyer}:${OUTBOUND_PORT}`);
  t.after(() => h2.close());
  const frame = Buffer.from([0, 0, 0, 0, 2, 0x08, 0x07]); // uncompressed, length 2, BookRequest { id: 7 }
  const raw = await h2Request(h2, { ":method": "POST", ":path": "/meshfed.test.v1.Books/GetBook", ":authority": AUTHORITY, "content-type": "application/grpc", te: "trailers" }, frame);
  assert.equal(raw.status, 200);
  assert.equal(raw.headers["content-type"], "application/grpc+proto");
  assert.equal(raw.trailers["grpc-status"], "0");
  assert.ok(raw.trailers["x-served-by"], "the server's trailer");
  assert.ok(raw.body.includes("book 7"), "the reply message");

  // HTTP/2 service with one endpoint refusing connections: short requests are retried on the other.
  const pricingAuthority = `pricing.pricing:${PRICING_PORT}`;
  const results: string[] = [];
  for (let i = 0; i < 10; i++) {
    const get = await h2Request(h2, { ":method": "GET", ":path": `/price/${i}`, ":authority": pricingAuthority });
    const post = await h2Request(h2, { ":method": "POST", ":path": "/price", ":authority": pricingAuthority, "content-length": "5" }, Buffer.from("hello"));
    results.push(`${get.status}/${post.status}`);
    assert.equal(get.status, 200, `GET ${i}: ${get.body}`);
    assert.equal(post.status, 200, `POST with a content-length ${i}: ${post.body}`);
    assert.deepEqual(JSON.parse(post.body), { service: "pricing", method: "POST", bytes: 5, http: "2.0", peer: PEER });
  }
  // A body of unknown length is sent once: it reaches the live endpoint or fails with the refusal's 502.
  const once: number[] = [];
  for (let i = 0; i < 10; i++) once.push((await h2Request(h2, { ":method": "POST", ":path": "/stream", ":authority": pricingAuthority }, Buffer.from("x"))).status);
  t.diagnostic(`HTTP/2 POST without content-length, one of two endpoints refusing: ${once.join(" ")}`);
  assert.ok(once.every((s) => s === 200 || s === 502) && once.includes(200), once.join(" "));

  // HTTP/1 service, same refusing endpoint: every GET answered (retried), the response not buffered into a different shape.
  for (let i = 0; i < 10; i++) {
    const r = await h1Get(`ledger.ledger:${LEDGER_PORT}`, `/entries/${i}`);
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(JSON.parse(r.body), { service: "ledger", peer: PEER });
  }
  // A Host no service has: a plain 404 for HTTP, UNIMPLEMENTED for gRPC.
  assert.equal((await h1Get("nowhere.nowhere", "/")).status, 404);
  const nowhere = booksClient(`${IP.bookbuyer}:${OUTBOUND_PORT}`, "nowhere.nowhere:1");
  t.after(() => nowhere.close());
  assert.equal((await grpcCode(nowhere.getBook(1))).code, GrpcStatus.UNIMPLEMENTED);
});
