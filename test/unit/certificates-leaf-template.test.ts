// Issue 17: leaf certificates through the DER template (leaf-template.ts) are
// what @peculiar/x509 builds for the same inputs. Seeded random inputs
// (names, SANs, validity, serials, certified key types, both CA curves):
// the template's TBSCertificate is byte-for-byte the library's; every issued
// certificate, template or fallback, has the library's TBSCertificate and
// verifies with Node's X509Certificate and with `openssl verify`.
// MESHFED_TEST_SEED=<seed> replays a run.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { generateKeyPairSync, X509Certificate } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { silentLogger } from "../../src/common/logger.js";
import { CertificateAuthority, type LeafParams } from "../../src/controller/certificates/ca.js";
import { readChildren, readTlv } from "../../src/controller/certificates/der.js";
import { pemCertificate } from "../../src/controller/certificates/leaf-template.js";
import type { Curve } from "../../src/controller/certificates/x509.js";
import { MemoryStore } from "../helpers/certificates.js";
import { seededRandom, testSeed } from "../helpers/seeded-random.js";

const CASES = Number(process.env.MESHFED_LEAF_CASES ?? 300);
const YEAR = 365 * 24 * 3_600_000;
const PRINTABLE_EXTRA = " '()+,-./:=?";

/** The TBSCertificate and signatureAlgorithm of a DER certificate. */
function parts(der: Uint8Array): { tbs: Buffer; algorithm: Buffer } {
  const [tbs, algorithm] = readChildren(der, readTlv(der, 0));
  assert.ok(tbs && algorithm);
  return { tbs: Buffer.from(der.subarray(tbs.start, tbs.end)), algorithm: Buffer.from(der.subarray(algorithm.start, algorithm.end)) };
}

/** The TBSCertificate's elements but the serial (a zero serial makes the library draw a random one). */
function withoutSerial(tbs: Buffer): string {
  return readChildren(tbs, readTlv(tbs, 0)).filter((_, i) => i !== 1).map((e) => tbs.subarray(e.start, e.end).toString("hex")).join(" ");
}

function certifiedKeys(): Array<{ type: string; spki: Uint8Array }> {
  const spki = (k: ReturnType<typeof generateKeyPairSync>) => new Uint8Array(k.publicKey.export({ type: "spki", format: "der" }));
  return [
    ...[1, 2, 3].map(() => ({ type: "ec-p256", spki: spki(generateKeyPairSync("ec", { namedCurve: "P-256" })) })),
    { type: "ec-p384", spki: spki(generateKeyPairSync("ec", { namedCurve: "P-384" })) },
    { type: "rsa-2048", spki: spki(generateKeyPairSync("rsa", { modulusLength: 2048 })) },
    { type: "ed25519", spki: spki(generateKeyPairSync("ed25519")) },
  ];
}

/** Random inputs, with the reason the template must decline them (undefined: it must take them). */
function randomCase(random: () => number, keys: ReturnType<typeof certifiedKeys>): { params: LeafParams; declined: string | undefined; key: string } {
  const int = (n: number) => Math.floor(random() * n);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)]!;
  const label = () => Array.from({ length: 1 + int(20) }, () => pick([..."abcdefghijklmnopqrstuvwxyz0123456789-"])).join("");
  const dnsName = () => Array.from({ length: 1 + int(5) }, label).join(".");
  let declined: string | undefined;
  let commonName = dnsName();
  const cnStyle = random();
  if (cnStyle < 0.15) commonName += pick([...PRINTABLE_EXTRA]) + label(); // still PrintableString
  else if (cnStyle < 0.25) {
    commonName += pick(["_", "é", "*", "@", "ü", "&"]) + label(); // UTF8String in the library
    declined = "common name not printable";
  }
  const uri = `spiffe://${dnsName()}/ns/${label()}/svc/${label()}/proxy/${label()}`;
  const extraUris = Array.from({ length: int(3) }, () => `spiffe://${dnsName()}/ns/${label()}/sa/${label()}`);
  const extraDns = Array.from({ length: int(4) }, dnsName);
  // Serials: our own shape, any positive length up to 20 octets, leading zeros, top bit set.
  const octets = Array.from({ length: 1 + int(20) }, () => int(256));
  const style = random();
  if (style < 0.4) octets.splice(0, octets.length, ...Array.from({ length: 16 }, () => int(256)).map((b, i) => (i === 0 ? (b & 0x3f) | 0x40 : b)));
  else if (style < 0.5) octets.unshift(0, 0);
  else if (style < 0.6) octets[0] = 0x80 | int(128);
  else if (style < 0.63) {
    octets.fill(0);
    declined = "zero serial";
  }
  const serial = Buffer.from(octets).toString("hex");
  // Validity: 1951..2080 with milliseconds; a notAfter past the CA's is cut to the CA's.
  const notBefore = new Date(Date.UTC(1951, 0, 1) + random() * (Date.UTC(2080, 0, 1) - Date.UTC(1951, 0, 1)));
  const notAfter = new Date(Math.min(notBefore.getTime() + random() * 40 * YEAR, Date.UTC(9000, 0, 1)));
  if (random() < 0.05) {
    notBefore.setUTCFullYear(1900 + int(49));
    declined ??= "notBefore before 1950";
  }
  const key = pick(keys);
  return {
    params: {
      serial, commonName, uri, dns: dnsName(), spki: key.spki, notBefore, notAfter,
      ...(extraUris.length > 0 || random() < 0.5 ? { extraUris } : {}), ...(extraDns.length > 0 || random() < 0.5 ? { extraDns } : {}),
    },
    declined, key: key.type,
  };
}

test("leaf certificates from the template are the library's, field for field, and verify with Node and openssl", { timeout: 300_000 }, async (t) => {
  const seed = testSeed();
  t.diagnostic(`MESHFED_TEST_SEED=${seed}`);
  const random = seededRandom(seed);
  const keys = certifiedKeys();
  const dir = await mkdtemp(join(tmpdir(), "meshfed-leaf-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const now = Date.now();
  let templated = 0;
  let declinedCount = 0;
  const keyTypes = new Set<string>();
  for (const curve of ["P-256", "P-384"] as Curve[]) {
    const ca = await CertificateAuthority.open({
      store: new MemoryStore(), trustDomain: "cluster.local", validity: 10 * YEAR, curve, now: () => new Date(now), logger: silentLogger(),
    });
    const caNode = new X509Certificate(ca.pem);
    const leafFiles: string[] = [];
    for (let i = 0; i < CASES / 2; i++) {
      const { params, declined, key } = randomCase(random, keys);
      const what = `${curve} case ${i} (${key}, ${JSON.stringify({ ...params, spki: undefined })})`;
      const library = await ca.issueWithLibrary(params);
      const expected = parts(new Uint8Array(library.rawData));
      const tbs = ca.templateTbs(params);
      if (declined === undefined) {
        assert.ok(tbs, `the template takes ${what}`);
        assert.equal(tbs.toString("hex"), expected.tbs.toString("hex"), `TBSCertificate byte for byte: ${what}`);
        templated++;
        keyTypes.add(key);
      } else {
        assert.equal(tbs, undefined, `the template declines (${declined}): ${what}`);
        declinedCount++;
      }
      const issued = await ca.issue(params);
      const got = parts(issued.der);
      // ECDSA signatures are randomised: everything else is compared.
      if (declined === "zero serial") assert.equal(withoutSerial(got.tbs), withoutSerial(expected.tbs), `issued TBSCertificate: ${what}`);
      else assert.equal(got.tbs.toString("hex"), expected.tbs.toString("hex"), `issued TBSCertificate: ${what}`);
      assert.equal(got.algorithm.toString("hex"), expected.algorithm.toString("hex"));
      assert.equal(issued.pem, pemCertificate(issued.der));
      assert.equal(pemCertificate(new Uint8Array(library.rawData)), library.toString("pem"), "the library's PEM layout");
      assert.equal(issued.notBefore.getTime(), library.notBefore.getTime());
      assert.equal(issued.notAfter.getTime(), library.notAfter.getTime());
      const node = new X509Certificate(issued.pem);
      assert.ok(node.checkIssued(caNode), `checkIssued: ${what}`);
      assert.ok(node.verify(caNode.publicKey), `signature verifies with the CA key: ${what}`);
      if (declined !== "zero serial") assert.equal(node.serialNumber, new X509Certificate(Buffer.from(library.rawData)).serialNumber);
      const file = join(dir, `${curve}-${i}.pem`);
      await writeFile(file, `${issued.pem}\n`);
      leafFiles.push(file);
    }
    const caFile = join(dir, `${curve}-ca.pem`);
    await writeFile(caFile, `${ca.pem}\n`);
    // Dates are random (some long expired, some not yet valid): the chain and signature are what is checked.
    const { stdout } = await promisify(execFile)("openssl", ["verify", "-no_check_time", "-CAfile", caFile, ...leafFiles], { maxBuffer: 16 << 20 });
    const ok = stdout.split("\n").filter((line) => line.endsWith(": OK")).length;
    assert.equal(ok, leafFiles.length, `openssl verify: every ${curve} leaf OK\n${stdout}`);
  }
  t.diagnostic(`${templated} through the template (key types ${[...keyTypes].sort().join(", ")}), ${declinedCount} declined and issued by the library`);
  assert.ok(templated > CASES / 2, "most cases exercise the template");
  assert.ok(declinedCount > 0, "some cases exercise the fallback");
  assert.equal(keyTypes.size, 4, "every certified key type went through the template");
});
