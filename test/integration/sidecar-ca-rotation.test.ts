// Issue 16 item 5: injected sidecars through a root CA rotation, against the
// fake API server. A sidecar behaves like Pipy: it reads its certificate, key
// and bundle from its bootstrap Secret once, when it starts (Pipy loads
// --tls-cert/--tls-key/--tls-trusted only when it parses its command line),
// and polls the controller's repo with them. At reissue the controller
// renews the certificate into the Secret; the running sidecar keeps working
// on the old one; retire waits for it (a straggler) until the sidecar
// restarts on the Secret's new files, then succeeds without force. A sidecar
// that starts only after reissue needs nothing.
import { test } from "node:test";
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { request } from "node:https";
import type { CaRotationStatus } from "../../src/controller/certificates/index.js";
import type { FakeKubeApiServer } from "../fakes/kube-api-server.js";
import { appPod, podReview, startInjectorFixture } from "./kubernetes-injector-fixture.js";
import { waitFor } from "../helpers/wait.js";

interface CertificateRow { serial: string; state: string; proxyId?: string; revocationReason?: string }

/** A Pipy sidecar as far as the repo can tell: files read at start, polled with until the next start. */
class PollingSidecar {
  #files: { cert: string; key: string; ca: string } | undefined;

  constructor(private readonly api: FakeKubeApiServer, private readonly secretName: string, readonly proxyId: string, private readonly repoPort: number) {}

  /** The container (re)starts: the kubelet has the Secret's current files in the volume. */
  start(): void {
    this.#files = { cert: this.file("proxy.crt"), key: this.file("proxy.key"), ca: this.file("ca.pem") };
  }

  file(name: string): string {
    const secret = this.api.get("secrets", "bookstore", this.secretName) as unknown as { data: Record<string, string> };
    return Buffer.from(secret.data[name] ?? "", "base64").toString("utf8");
  }

  get serial(): string {
    return new X509Certificate(this.#files!.cert).serialNumber.toLowerCase();
  }

  /** One poll of the repo (HEAD, as Pipy's 5 s check); the status, or 0 when TLS failed. */
  poll(): Promise<number> {
    return new Promise((resolve) => {
      // Chain only, no host name check: what Pipy does (PIPY-NOTES.md "TLS to the repo").
      const req = request(`https://127.0.0.1:${this.repoPort}/repo/${this.proxyId}/`, { method: "HEAD", ...this.#files, agent: false, checkServerIdentity: () => undefined }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on("error", () => resolve(0));
      req.end();
    });
  }
}

function signedBy(certificatePem: string, rootSerial: string, bundlePem: string): boolean {
  const leaf = new X509Certificate(certificatePem);
  const roots = (bundlePem.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? []).map((b) => new X509Certificate(b));
  const root = roots.find((r) => r.serialNumber.toLowerCase() === rootSerial);
  return root !== undefined && leaf.verify(root.publicKey);
}

test("sidecars through a CA rotation: reissue renews each sidecar's certificate in its bootstrap Secret; after a restart the sidecar uses it and retire needs no force", async (t) => {
  const f = await startInjectorFixture(t);
  const repoPort = Number(f.controller.repoAddress?.split(":").pop());
  const inject = async () => {
    const review = (await f.post(podReview("bookstore", appPod()))).body as { response: { patch: string } };
    const ops = JSON.parse(Buffer.from(review.response.patch, "base64").toString("utf8")) as Array<{ path: string; value: Record<string, string> | string }>;
    const proxyId = ops.find((o) => o.path.endsWith("meshfed.io~1proxy-id"))?.value as string
      ?? (ops.find((o) => o.path === "/metadata/annotations")?.value as Record<string, string>)["meshfed.io/proxy-id"]!;
    return new PollingSidecar(f.h.api, `meshfed-proxy-${proxyId}`, proxyId, repoPort);
  };
  const certificates = () => f.controller.api<CertificateRow[]>("/api/v1/certificates");
  const rotate = (action: string) => f.controller.api<CaRotationStatus>("/api/v1/ca/rotation", { action });

  const running = await inject();
  running.start();
  assert.equal(await running.poll(), 200);
  const oldSerial = running.serial;
  const notStarted = await inject(); // admitted, its container not started yet

  const introduced = await rotate("introduce");
  const newRoot = introduced.roots.find((r) => r.role === "next")!.serial;
  await rotate("reissue");
  const bundle = await f.controller.api<string>("/api/v1/ca");
  // The leader renews both Secrets: new key, certificate from the new root, both roots as ca.pem.
  await waitFor(() => [running, notStarted].every((s) => signedBy(s.file("proxy.crt"), newRoot, bundle)), { what: "both bootstrap Secrets renewed under the new root", timeoutMs: 60_000 });
  assert.equal(running.file("ca.pem"), bundle);
  assert.notEqual(new X509Certificate(running.file("proxy.crt")).serialNumber.toLowerCase(), oldSerial);
  assert.ok(new X509Certificate(running.file("proxy.crt")).checkPrivateKey((await import("node:crypto")).createPrivateKey(running.file("proxy.key"))), "the Secret's key belongs to its certificate");

  // Pipy does not re-read its files: the running sidecar still presents the old certificate, and is still served.
  assert.equal(await running.poll(), 200);
  assert.equal((await certificates()).find((c) => c.serial === oldSerial)?.state, "claimed", "the old certificate stays valid until the sidecar restarts");
  // So retire waits for it, naming its proxy.
  await assert.rejects(rotate("retire"), (err: Error) => {
    assert.match(err.message, /409/);
    assert.match(err.message, new RegExp(`proxy ${running.proxyId}`));
    return true;
  });

  // The sidecar container restarts (a crash, a rollout, `kubectl delete pod` of one replica): it reads the renewed files.
  running.start();
  assert.equal(await running.poll(), 200);
  notStarted.start();
  assert.equal(await notStarted.poll(), 200);
  const rows = await certificates();
  assert.equal(rows.find((c) => c.serial === oldSerial)?.state, "revoked", "superseded once the sidecar used its successor");
  assert.match(rows.find((c) => c.serial === oldSerial)?.revocationReason ?? "", /superseded/);

  const retired = await rotate("retire");
  assert.equal(retired.phase, "retired");
  assert.equal(retired.stragglerCount, 0, "no force needed");
  // Both sidecars keep polling across the repo's move to the new root (their ca.pem holds both roots).
  await waitFor(async () => (await running.poll()) === 200 && (await notStarted.poll()) === 200, { what: "sidecars served after retire", timeoutMs: 5_000 });
});
