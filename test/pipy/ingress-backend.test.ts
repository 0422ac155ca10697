// Real Pipy, IngressBackend (issue 18): bookstore's host captures inbound
// traffic to its app ports (nat PREROUTING, the shape of the agent's
// MESHFED_INBOUND chain) to its sidecar. The client host has three addresses:
// .1 is in the IngressBackend's IPRange, .5 is the endpoint of the
// ingress/nginx Service the IngressBackend names, .6 is neither. Plain HTTP
// from .1 and .5 reaches the app (with no mesh identity, even a forged one);
// from .6 it is refused. A mesh peer over mTLS still gets in by its
// TrafficTarget, and the https backend port takes mTLS from the
// AuthenticatedPrincipal's certificate and refuses another identity's.
// The policies are the normalised objects the spec layer gives, fed through
// FakeSpec into a real MeshCatalog. Needs root, iproute2, iptables and PIPY_BIN:
// `PIPY_BIN=/path/to/pipy node --test dist/test/pipy/ingress-backend.test.js`.
import { test } from "node:test";
import assert from "node:assert/strict";
import { netnsUnavailable, twoHosts } from "../helpers/netns.js";
import type { IngressBackend } from "../../src/controller/spec/policy-types.js";
import { catalogOf, metricsOf, peer, proxyRunner, sa, servers } from "./egress-harness.js";
import { scaled } from "../helpers/wait.js";

const PIPY_BIN = process.env.PIPY_BIN;
const PORT = { http: 14001, https: 14443, tlsNoCert: 14444 } as const;
const OFFSET = 10000;

interface HttpResult { status: number; body: string }

test("IngressBackend with a real Pipy: plain HTTP from an allowed range and from the ingress Service's endpoints, refused from elsewhere; mTLS by principal", { timeout: scaled(540_000) }, async (t) => {
  if (PIPY_BIN === undefined) return t.skip("PIPY_BIN not set: real Pipy tests skipped");
  const why = await netnsUnavailable();
  if (why !== undefined) return t.skip(why);
  const { a, b, net } = await twoHosts(t, "mfeg", []);
  const b2 = `${net}.2`;
  const [inRange, ingressPod, stranger] = [`${net}.1`, `${net}.5`, `${net}.6`];
  const veth = (await a.exec(["ip", "-o", "link", "show", "type", "veth"])).split(":")[1]!.trim().split("@")[0]!;
  for (const ip of [ingressPod, stranger]) await a.exec(["ip", "addr", "add", `${ip}/24`, "dev", veth]);
  const runner = await proxyRunner(t, PIPY_BIN, "mfeg-ingress");

  await servers(b, { http: [{ host: b2, port: PORT.http, name: "bookstore" }, { host: b2, port: PORT.https, name: "bookstore-tls" }, { host: b2, port: PORT.tlsNoCert, name: "bookstore-open-tls" }] });

  const ingressBackend: IngressBackend = {
    namespace: "shop", name: "bookstore-ingress", origin: "test#ib",
    backends: [
      { name: "bookstore", port: { number: PORT.http, protocol: "http" } },
      { name: "bookstore", port: { number: PORT.https, protocol: "https" }, tls: { skipClientCertValidation: false, sniHosts: [] } },
      { name: "bookstore", port: { number: PORT.tlsNoCert, protocol: "https" }, tls: { skipClientCertValidation: true, sniHosts: [] } },
    ],
    sources: [
      { kind: "IPRange", name: `${inRange}/32` },
      { kind: "Service", namespace: "ingress", name: "nginx" },
      { kind: "AuthenticatedPrincipal", name: "nginx.ingress.svc.cluster.local" },
    ],
    matches: [],
  };
  const catalog = catalogOf(t, { "shop/bookstore": [`${b2}:${PORT.http}`, `${b2}:${PORT.https}`, `${b2}:${PORT.tlsNoCert}`], "ingress/nginx": [`${ingressPod}:80`] }, {
    ingressBackends: [ingressBackend],
    trafficTargets: [{ namespace: "shop", name: "buyer-to-store", origin: "test#tt", destination: sa("shop", "bookstore"), sources: [sa("shop", "bookbuyer")], rules: [{ kind: "HTTPRouteGroup", name: "all", matches: [] }] }],
    httpRouteGroups: [{ namespace: "shop", name: "all", origin: "test#rg", matches: [{ name: "any", methods: ["*"], headers: {} }] }],
  }, true);
  const view = catalog.proxyView({ proxyId: "bookstore-proxy", service: { namespace: "shop", name: "bookstore" }, addresses: [b2], capture: "transparent" });
  assert.deepEqual(view.inbound.ingress?.map((r) => [r.port, r.protocol, r.ipRanges]), [
    [PORT.http, "http", [`${inRange}/32`, `${ingressPod}/32`]],
    [PORT.https, "https", [`${inRange}/32`, `${ingressPod}/32`]],
    [PORT.tlsNoCert, "https", [`${inRange}/32`, `${ingressPod}/32`]],
  ], "the Service source became its endpoint's address");
  await runner.start(b, view, { outboundPort: 15101, healthPort: 15201, transparentPort: 15002, admin: 15301 });

  // Inbound capture on bookstore's host: its app ports go to the sidecar's listeners.
  const nat = (args: string) => b.exec(["iptables", "-t", "nat", ...args.split(" ")]);
  await nat("-N MESHFED_INBOUND");
  for (const p of [PORT.http, PORT.https, PORT.tlsNoCert]) await nat(`-A MESHFED_INBOUND -p tcp -m tcp --dport ${p} -j REDIRECT --to-ports ${p + OFFSET}`);
  await nat("-A PREROUTING -p tcp -j MESHFED_INBOUND");

  const plain = (from: string) => peer<HttpResult>(a, {
    mode: "http", url: `http://${b2}:${PORT.http}/books`, localAddress: from,
    headers: { "x-meshfed-peer-identity": "admin.shop.svc.cluster.local" },
  });
  const ctx = () => `\n${runner.logs()}`;

  for (const from of [inRange, ingressPod]) {
    const r = await plain(from);
    assert.equal(r.status, 200, `from ${from}: ${JSON.stringify(r)}${ctx()}`);
    assert.deepEqual(JSON.parse(r.body), { service: "bookstore", host: `${b2}:${PORT.http}`, path: "/books", peer: null }, "no mesh identity, and the forged one is gone");
  }
  const refused = await plain(stranger);
  assert.equal(refused.status, 0, `from ${stranger}: ${JSON.stringify(refused)}`);

  // A mesh peer (bookbuyer's certificate) from the same stranger address still gets in by its TrafficTarget.
  const buyer = await runner.certificate("shop", "bookbuyer");
  const meshCall = await peer<HttpResult>(a, {
    mode: "http", url: `https://${b2}:${PORT.http + OFFSET}/books`, localAddress: stranger,
    tls: { ...buyer, servername: "bookstore.shop.svc.cluster.local" },
  });
  assert.equal(meshCall.status, 200, `${JSON.stringify(meshCall)}${ctx()}`);
  assert.equal(JSON.parse(meshCall.body).peer, "bookbuyer.shop.svc.cluster.local");

  // The https backend port: mTLS from the AuthenticatedPrincipal, not from another identity.
  const viaTls = async (namespace: string, name: string) => peer<HttpResult>(a, {
    mode: "http", url: `https://${b2}:${PORT.https}/books`, localAddress: stranger,
    tls: { ...(await runner.certificate(namespace, name)), servername: "bookstore.shop.svc.cluster.local" },
  });
  const principal = await viaTls("ingress", "nginx");
  assert.equal(principal.status, 200, `${JSON.stringify(principal)}${ctx()}`);
  assert.equal(JSON.parse(principal.body).peer, null);
  const thief = await viaTls("shop", "bookthief");
  assert.equal(thief.status, 0, JSON.stringify(thief));

  // skipClientCertValidation: TLS without a client certificate from an allowed address; from
  // elsewhere the connection takes the mesh path, whose handshake wants a certificate.
  const noCert = (from: string) => peer<HttpResult>(a, { mode: "http", url: `https://${b2}:${PORT.tlsNoCert}/books`, localAddress: from, insecure: true });
  const open = await noCert(inRange);
  assert.equal(open.status, 200, `${JSON.stringify(open)}${ctx()}`);
  assert.equal(JSON.parse(open.body).service, "bookstore-open-tls");
  assert.equal((await noCert(stranger)).status, 0);

  const metrics = await metricsOf(b, 15301);
  assert.match(metrics, /meshfed_denied_total\{direction="inbound",reason="no-ingress-backend"\} 1/, metrics);
});
