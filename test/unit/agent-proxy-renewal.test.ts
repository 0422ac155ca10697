// The agent's side of proxy certificate renewal over the stream (root CA
// rotation): a new key for every request, a certificate for another key or a
// refusal changes nothing, and a good answer is stored and used at once.
import { test } from "node:test";
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { connectedAgent } from "../helpers/agent-connected.js";
import { issueLeaf } from "../helpers/agent-fake-controller.js";
import { waitFor } from "../helpers/wait.js";

test("renewal: a refusal or a certificate for another key keeps the current pair; a good answer is stored and the agent reconnects with it", async (t) => {
  const { ctl, config, session } = await connectedAgent(t);
  const enrolledCert = await readFile(join(config.dataDir, "proxy-cert.pem"), "utf8");
  const enrolledKey = await readFile(join(config.dataDir, "proxy-key.pem"), "utf8");
  const uri = /URI:([^,\s]+)/.exec(new X509Certificate(enrolledCert).subjectAltName ?? "")![1]!;
  const csrs = () => session.messages.filter((m) => m.message === "proxyCsr").map((m) => new x509.Pkcs10CertificateRequest(m.proxyCsr!.csrPem));

  // A refusal: nothing is stored.
  session.send({ renewProxyCertificate: { reason: "test" } });
  await session.next((m) => (m.message === "proxyCsr" ? true : undefined));
  session.send({ proxyCertificate: { serial: "", certificatePem: "", caBundlePem: "", notAfter: "", errorCode: "MESHFED_CSR_EXTRA_SAN", error: "refused" } });
  // A certificate for a key the agent never asked for: refused by the agent.
  session.send({ renewProxyCertificate: { reason: "test" } });
  await waitFor(() => csrs().length === 2, { what: "second CSR", timeoutMs: 5_000 });
  const stranger = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"]);
  const wrong = await issueLeaf(ctl.pki, stranger.publicKey, uri, "a1");
  session.send({ proxyCertificate: { serial: "a1", certificatePem: wrong.toString("pem"), caBundlePem: ctl.pki.caPem, notAfter: wrong.notAfter.toISOString(), errorCode: "", error: "" } });

  // The good one, for the key of the last CSR.
  session.send({ renewProxyCertificate: { reason: "test" } });
  await waitFor(() => csrs().length === 3, { what: "third CSR", timeoutMs: 5_000 });
  const [first, second, third] = csrs();
  const keys = [first!, second!, third!].map((c) => Buffer.from(c.publicKey.rawData).toString("hex"));
  assert.equal(new Set(keys).size, 3, "a new key for every request");
  assert.equal(existsSync(join(config.dataDir, "proxy-identity.json")), false, "nothing stored for a refusal or a foreign certificate");
  assert.equal(await readFile(join(config.dataDir, "proxy-key.pem"), "utf8"), enrolledKey);
  const good = await issueLeaf(ctl.pki, third!.publicKey, uri, "b2");
  ctl.issued.set("b2", { proxyId: session.peerProxyId, service: "shop/bookstore" });
  session.send({ proxyCertificate: { serial: "b2", certificatePem: good.toString("pem"), caBundlePem: ctl.pki.caPem, notAfter: good.notAfter.toISOString(), errorCode: "", error: "" } });

  // It reconnects at once, presenting the renewed certificate.
  const next = await ctl.waitForSession(2);
  assert.equal(next.peerProxyId, session.peerProxyId);
  const stored = JSON.parse(await readFile(join(config.dataDir, "proxy-identity.json"), "utf8")) as { keyPem: string; certificatePem: string };
  assert.equal(stored.certificatePem, good.toString("pem"));
  assert.equal(await readFile(join(config.dataDir, "proxy-cert.pem"), "utf8"), good.toString("pem"));
  const peer = (next.call.getAuthContext().sslPeerCertificate?.serialNumber ?? "").toLowerCase();
  assert.equal(peer, "b2");
});
