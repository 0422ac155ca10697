// Issue 17: service-certificate keys are generated with ECDH and encoded by
// hand (x509.ts generateLeafKey); the encodings must be exactly what
// node:crypto (OpenSSL) writes for the same key, and the pair must match.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createPrivateKey, createPublicKey, sign, verify } from "node:crypto";
import { generateLeafKey } from "../../src/controller/certificates/x509.js";

test("generated service keys: PKCS#8 PEM and SPKI DER are OpenSSL's own encodings of one P-256 pair", () => {
  // 300 keys: about one in 256 has a scalar with a leading zero octet, the padded case.
  for (let i = 0; i < 300; i++) {
    const { spki, privateKeyPem } = generateLeafKey();
    const privateKey = createPrivateKey(privateKeyPem);
    assert.equal(privateKey.asymmetricKeyDetails?.namedCurve, "prime256v1");
    assert.equal(privateKey.export({ type: "pkcs8", format: "pem" }).toString().trimEnd(), privateKeyPem, "PKCS#8 as OpenSSL writes it");
    const derived = createPublicKey(privateKey).export({ type: "spki", format: "der" });
    assert.equal(Buffer.from(spki).toString("hex"), derived.toString("hex"), "the SPKI is the private key's public key");
    const signature = sign("sha256", Buffer.from("probe"), privateKey);
    assert.ok(verify("sha256", Buffer.from("probe"), createPublicKey({ key: Buffer.from(spki), format: "der", type: "spki" }), signature));
    assert.match(privateKeyPem, /^-----BEGIN PRIVATE KEY-----\n([A-Za-z0-9+/=]{64}\n)*[A-Za-z0-9+/=]{1,64}\n-----END PRIVATE KEY-----$/);
  }
});
