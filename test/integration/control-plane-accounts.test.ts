// A join token that names a ServiceAccount, end to end through the control
// plane: the token, the EnrollResponse, the proxy certificate, the service
// certificate pushed on the stream (the account's, not the service's), the
// protocol an agent declares in Hello, and what the admin API shows.
import "reflect-metadata";
import { test } from "node:test";
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { enroll, TestStream } from "../helpers/grpc-agent.js";
import { startTestController } from "../helpers/in-process-controller.js";
import { waitFor } from "../helpers/wait.js";

test("token --service-account: the proxy runs as that account, gets its certificate, and the API shows identity and protocol", async (t) => {
  const ctl = await startTestController(t);
  const ca = await ctl.api<string>("/api/v1/ca");
  const created = await ctl.api<{ token: string; serviceAccount?: string }>("/api/v1/tokens", { service: "shop/cart", serviceAccount: "checkout", ttl: "10m", uses: 1 });
  assert.equal(created.serviceAccount, "checkout");
  assert.deepEqual((await ctl.api<Array<{ serviceAccount?: string }>>("/api/v1/tokens")).map((x) => x.serviceAccount), ["checkout"]);

  const { keyPem, response } = await enroll(ctl.grpcAddress, ca, created.token);
  assert.equal(response.serviceAccount, "checkout", "EnrollResponse field 10");
  assert.match(new X509Certificate(response.certificatePem).subjectAltName ?? "", /URI:spiffe:\/\/cluster\.local\/ns\/shop\/sa\/checkout/);

  const stream = new TestStream(ctl.grpcAddress, ca, keyPem, response.certificatePem);
  t.after(() => stream.close());
  stream.send({ hello: { proxyId: response.proxyId, hostAddresses: ["127.0.0.2"], endpoints: [{ ip: "127.0.0.2", port: 14001, protocol: "grpc" }], agentVersion: "test", proxyVersion: "", configVersion: 0, configHash: "" } });
  const pushed = (await stream.next((m) => m.message === "serviceCertificate")).serviceCertificate!;
  const cert = new X509Certificate(pushed.certificatePem);
  assert.equal(cert.subjectAltName, "URI:spiffe://cluster.local/ns/shop/sa/checkout, DNS:checkout.shop.svc.cluster.local", "the account's certificate, not shop/cart's");

  const proxies = await ctl.api<Array<{ identity?: string; endpoints: unknown[] }>>("/api/v1/proxies");
  assert.equal(proxies[0]?.identity, "shop/checkout");
  assert.deepEqual(proxies[0]?.endpoints, [{ ip: "127.0.0.2", port: 14001, protocol: "grpc" }]);

  // The catalog follows after its coalescing delay.
  const endpoint = await waitFor(async () => {
    const catalog = await ctl.api<{ services: Array<{ name: string; endpoints: Array<{ protocol?: string; serviceAccount?: string }> }> }>("/api/v1/catalog");
    return catalog.services.find((s) => s.name === "cart")?.endpoints[0];
  }, { what: "cart's endpoint in the catalog" });
  assert.deepEqual(endpoint && { protocol: endpoint.protocol, serviceAccount: endpoint.serviceAccount }, { protocol: "grpc", serviceAccount: "checkout" });
  const participants = await ctl.api<{ participants: Array<{ identity: string }> }>("/api/v1/participants");
  assert.deepEqual(participants.participants.map((p) => p.identity), ["shop/checkout"]);

  const config = await ctl.api<{ identity: string; explain: Array<{ part: string; from: string[] }> }>(`/api/v1/proxies/config?id=${response.proxyId}&explain=1`);
  assert.equal(config.identity, "shop/checkout");
  assert.deepEqual(config.explain.find((e) => e.part === "identity shop/checkout")?.from, ["the proxy certificate (its join token's serviceAccount)"]);
  assert.deepEqual(config.explain.find((e) => e.part === "inbound endpoint 127.0.0.2:14001 protocol grpc")?.from, [`agents proxy/${response.proxyId}`]);
});

test("a token whose serviceAccount is not a DNS-1123 subdomain is refused by name", async (t) => {
  const ctl = await startTestController(t);
  await assert.rejects(ctl.api("/api/v1/tokens", { service: "shop/cart", serviceAccount: "Check/Out" }), /MESHFED_TOKEN_INVALID_SERVICE_ACCOUNT/);
});
