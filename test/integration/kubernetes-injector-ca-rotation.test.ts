// Root CA rotation with the sidecar injector: the webhook configuration's
// caBundle gains the new root at introduce, and at retire the webhook's
// serving certificate moves to the new root before the caBundle drops the
// old one, so the API server always trusts what the webhook presents.
import { test } from "node:test";
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { request } from "node:https";
import type { CaRotationStatus } from "../../src/controller/certificates/index.js";
import { startInjectorFixture, WEBHOOK_CONFIGURATION, WEBHOOK_DNS_NAME } from "./kubernetes-injector-fixture.js";
import { waitFor } from "../helpers/wait.js";

const MWC = "mutatingwebhookconfigurations.admissionregistration.k8s.io";
const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g;

function roots(bundlePem: string): string[] {
  return (bundlePem.match(PEM_BLOCK) ?? []).map((b) => new X509Certificate(b).serialNumber.toLowerCase());
}

/** The serial of the root that signed the webhook's serving certificate, as seen over TLS with `ca` trusted. */
function servingRoot(port: number, ca: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const req = request({ host: "127.0.0.1", port, method: "GET", path: "/healthz", ca, servername: WEBHOOK_DNS_NAME, agent: false }, (res) => {
      const leaf = new X509Certificate((res.socket as import("node:tls").TLSSocket).getPeerCertificate().raw);
      res.resume();
      resolve((ca.match(PEM_BLOCK) ?? []).map((b) => new X509Certificate(b)).find((r) => leaf.verify(r.publicKey))?.serialNumber.toLowerCase());
    });
    req.on("error", () => resolve(undefined));
    req.end();
  });
}

test("injector through a rotation: caBundle gains the new root first, the webhook moves at retire, then the old root is dropped", async (t) => {
  const f = await startInjectorFixture(t);
  const port = Number(f.controller.injectorAddress?.split(":").pop());
  const caBundle = () => {
    const stored = f.h.api.get(MWC, undefined, WEBHOOK_CONFIGURATION) as unknown as { webhooks: Array<{ clientConfig: { caBundle?: string } }> };
    return Buffer.from(stored.webhooks[0]!.clientConfig.caBundle ?? "", "base64").toString();
  };
  const [r1] = roots(f.ca);
  assert.deepEqual(roots(caBundle()), [r1]);

  const introduced = await f.controller.api<CaRotationStatus>("/api/v1/ca/rotation", { action: "introduce" });
  const r2 = introduced.roots.find((r) => r.role === "next")!.serial;
  await waitFor(() => roots(caBundle()).length === 2, { what: "caBundle with both roots", timeoutMs: 5_000 });
  assert.deepEqual(roots(caBundle()).sort(), [r1, r2].sort());

  await f.controller.api("/api/v1/ca/rotation", { action: "reissue" });
  assert.equal(await servingRoot(port, f.ca), r1, "the webhook keeps the old root's certificate until retire");

  await f.controller.api("/api/v1/ca/rotation", { action: "retire", force: true });
  await waitFor(() => roots(caBundle()).join() === r2, { what: "caBundle with the new root only", timeoutMs: 5_000 });
  const bundle = await f.controller.api<string>("/api/v1/ca");
  assert.equal(await servingRoot(port, bundle), r2, "the webhook serves a certificate from the new root");
});
