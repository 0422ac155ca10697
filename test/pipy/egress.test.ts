// Real Pipy, transparent capture, Egress in deny mode (issue 18): one host
// runs two unchanged applications under two uids, each captured to its own
// sidecar (bookbuyer's and bookthief's identities); the other host runs
// servers outside the mesh. Egress objects (normalised, as the spec layer
// gives them, fed through FakeSpec into a real MeshCatalog) name bookbuyer
// only: its sidecar lets through HTTP by Host (and an HTTPRouteGroup), TLS by
// SNI without terminating it, TCP by IP range, and refuses the rest; the
// same destinations from bookthief's sidecar are refused.
// Needs root, iproute2, iptables and PIPY_BIN; skipped (visibly) otherwise:
// `PIPY_BIN=/path/to/pipy node --test dist/test/pipy/egress.test.js`.
import { test } from "node:test";
import assert from "node:assert/strict";
import { netnsUnavailable, twoHosts } from "../helpers/netns.js";
import type { Egress } from "../../src/controller/spec/policy-types.js";
import { catalogOf, metricsOf, peer, proxyRunner, sa, servers } from "./egress-harness.js";
import { scaled } from "../helpers/wait.js";

const PIPY_BIN = process.env.PIPY_BIN;
const UID = { bookbuyer: 1001, bookthief: 1002 } as const;
const PORT = { http: 7070, https: 7443, tcp: 3306 } as const;
const TRANSPARENT = { bookbuyer: 15002, bookthief: 15003 } as const;

interface HttpResult { status: number; body: string }
interface StreamResult { text: string; error?: string }

const egress = (name: string, o: Partial<Egress>): Egress => ({
  namespace: "shop", name, origin: `test#${name}`, sources: [sa("shop", "bookbuyer")], hosts: [], ipAddresses: [], ports: [], matches: [], ...o,
});

test("Egress with a real Pipy: HTTP by Host and route, TLS by SNI, TCP by IP range for one identity; refused for another", { timeout: scaled(540_000) }, async (t) => {
  if (PIPY_BIN === undefined) return t.skip("PIPY_BIN not set: real Pipy tests skipped");
  const why = await netnsUnavailable();
  if (why !== undefined) return t.skip(why);
  const { a, b, net } = await twoHosts(t, "mfeg", [3]);
  const [b2, b3] = [`${net}.2`, `${net}.3`];
  const runner = await proxyRunner(t, PIPY_BIN, "mfeg-egress");

  // Outside the mesh, on host b: an HTTP server, a TLS server, and TCP servers on two addresses.
  const tlsCert = await runner.certificate("outside", "secure");
  await servers(b, {
    http: [{ host: b2, port: PORT.http, name: "api" }],
    tls: [{ host: b2, port: PORT.https, name: "secure", cert: tlsCert.cert, key: tlsCert.key }],
    tcp: [{ host: b2, port: PORT.tcp, name: "db-b2" }, { host: b3, port: PORT.tcp, name: "db-b3" }],
  });

  const catalog = catalogOf(t, {}, {
    egresses: [
      egress("api", { hosts: ["api.example.com"], ports: [{ number: PORT.http, protocol: "http" }], matches: [{ apiGroup: "specs.smi-spec.io/v1alpha4", kind: "HTTPRouteGroup", name: "api-routes" }] }),
      egress("secure", { hosts: ["*.example.com"], ports: [{ number: PORT.https, protocol: "https" }] }),
      egress("db", { ipAddresses: [`${b3}/32`], ports: [{ number: PORT.tcp, protocol: "tcp" }] }),
    ],
    httpRouteGroups: [{ namespace: "shop", name: "api-routes", origin: "test#routes", matches: [{ name: "v1", pathRegex: "/v1/.*", methods: ["GET"], headers: {} }] }],
  }, false);
  const view = (name: "bookbuyer" | "bookthief") => catalog.proxyView({ proxyId: `${name}-proxy`, service: { namespace: "shop", name }, capture: "transparent" });
  assert.equal(view("bookbuyer").egress?.rules.length, 3, "bookbuyer's view carries its Egress rules");
  assert.equal(view("bookthief").egress, undefined, "bookthief is named by no Egress");

  await runner.start(a, view("bookbuyer"), { outboundPort: 15101, healthPort: 15201, transparentPort: TRANSPARENT.bookbuyer, admin: 15301 });
  await runner.start(a, view("bookthief"), { outboundPort: 15102, healthPort: 15202, transparentPort: TRANSPARENT.bookthief, admin: 15302 });

  // Capture by uid: each application's TCP goes to its own identity's sidecar.
  const nat = (args: string) => a.exec(["iptables", "-t", "nat", ...args.split(" ")]);
  await nat("-N MESHFED_OUTPUT");
  await nat("-A MESHFED_OUTPUT -m owner --uid-owner 65534 -j RETURN");
  await nat("-A MESHFED_OUTPUT -d 127.0.0.0/8 -j RETURN");
  for (const who of ["bookbuyer", "bookthief"] as const) await nat(`-A MESHFED_OUTPUT -p tcp -m owner --uid-owner ${UID[who]} -j REDIRECT --to-ports ${TRANSPARENT[who]}`);
  await nat("-A OUTPUT -p tcp -j MESHFED_OUTPUT");

  const as = (who: keyof typeof UID) => ({
    http: (path: string, host: string) => peer<HttpResult>(a, { mode: "http", url: `http://${b2}:${PORT.http}${path}`, host }, UID[who]),
    tls: (servername: string) => peer<StreamResult>(a, { mode: "tls", host: b2, port: PORT.https, servername }, UID[who]),
    tcp: (host: string) => peer<StreamResult>(a, { mode: "tcp", host, port: PORT.tcp }, UID[who]),
  });
  const buyer = as("bookbuyer");
  const thief = as("bookthief");
  const ctx = () => `\n${runner.logs()}`;

  // HTTP: the Host and the route decide; the server sees the request as sent.
  const ok = await buyer.http("/v1/books", "api.example.com");
  assert.equal(ok.status, 200, `${JSON.stringify(ok)}${ctx()}`);
  assert.deepEqual(JSON.parse(ok.body), { service: "api", host: "api.example.com", path: "/v1/books", peer: null });
  const wrongRoute = await buyer.http("/admin", "api.example.com");
  assert.equal(wrongRoute.status, 403, JSON.stringify(wrongRoute));
  assert.match(wrongRoute.body, /no Egress allows api\.example\.com on port 7070/, ctx());
  const wrongHost = await buyer.http("/v1/books", "evil.example.org");
  assert.equal(wrongHost.status, 403, JSON.stringify(wrongHost));

  // TLS: passed through by SNI, untouched (the server's own handshake and greeting arrive).
  const secure = await buyer.tls("secure.example.com");
  assert.equal(secure.text, "secure secure.example.com\n", `${JSON.stringify(secure)}${ctx()}`);
  const otherSni = await buyer.tls("secure.example.org");
  assert.equal(otherSni.text, "", JSON.stringify(otherSni));
  assert.ok(otherSni.error !== undefined, `a refused SNI ends the connection with an error: ${JSON.stringify(otherSni)}`);

  // TCP: by destination range.
  assert.deepEqual(await buyer.tcp(b3), { text: "db-b3\n" }, ctx());
  const outOfRange = await buyer.tcp(b2);
  assert.equal(outOfRange.text, "", JSON.stringify(outOfRange));

  // The other identity's sidecar refuses all of it: reset before any byte.
  const refused = await thief.http("/v1/books", "api.example.com");
  assert.equal(refused.status, 0, JSON.stringify(refused));
  assert.equal((await thief.tls("secure.example.com")).text, "");
  assert.equal((await thief.tcp(b3)).text, "");

  const buyerMetrics = await metricsOf(a, 15301);
  assert.match(buyerMetrics, /meshfed_requests_total\{direction="egress",service="shop\/api",status="200"\} 1/, buyerMetrics);
  assert.match(buyerMetrics, /meshfed_tcp_connections_total\{direction="egress",service="shop\/secure"\} 1/, buyerMetrics);
  assert.match(buyerMetrics, /meshfed_denied_total\{direction="outbound",reason="no-egress-rule"\} [1-9]/, buyerMetrics);
  const thiefMetrics = await metricsOf(a, 15302);
  assert.match(thiefMetrics, /meshfed_denied_total\{direction="outbound",reason="not-a-mesh-destination"\} 3/, thiefMetrics);
});
