// Issue 17: service-certificate keys are generated with ECDH and encoded by
// hand (x509.ts generateLeafKey); the encodings must be exactly what
// node:crypto (OpenSSL) writes for the same key, and the pair must match.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createPrivateKey, createPublicKey, sign, verify } from "node:crypto";
import { generateLeafKey, randomSerial } from "../../src/controller/certificates/x509.js";

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

test("one key maker, many keys: every call gives a new pair, and an earlier key is not changed by a later one", () => {
  // generateLeafKey reuses one ECDH object; a returned key must be a copy, not a view of its state.
  const keys = Array.from({ length: 200 }, () => generateLeafKey());
  assert.equal(new Set(keys.map((k) => k.privateKeyPem)).size, keys.length);
  assert.equal(new Set(keys.map((k) => Buffer.from(k.spki).toString("hex"))).size, keys.length);
  for (const { spki, privateKeyPem } of [keys[0]!, keys[99]!, keys[199]!]) {
    const derived = createPublicKey(createPrivateKey(privateKeyPem)).export({ type: "spki", format: "der" });
    assert.equal(Buffer.from(spki).toString("hex"), derived.toString("hex"));
  }
});

test("serials from the pool: distinct, 32 lower-case hex digits, first octet 0x40..0x7f, across several refills", () => {
  // The pool holds 256 serials; 2,000 draws cross seven refills.
  const serials = Array.from({ length: 2000 }, () => randomSerial());
  assert.equal(new Set(serials).size, serials.length);
  for (const serial of serials) assert.match(serial, /^[4-7][0-9a-f]{31}$/);
  // Every other bit varies: over 2,000 serials no bit position of the 126 random ones is constant.
  const fixedOnes = serials.map((s) => BigInt(`0x${s}`)).reduce((acc, v) => acc & v);
  const fixedZeros = serials.map((s) => BigInt(`0x${s}`)).reduce((acc, v) => acc | v);
  assert.equal(fixedOnes, 1n << 126n, "only the forced 0x40 bit is set in every serial");
  assert.equal(fixedZeros, (1n << 127n) - 1n, "every bit below the top one is set in some serial");
});
