// Property tests for the CSR edge (the table of named cases is
// test/unit/certificates-csr-validation.test.ts): random PEM bodies and
// bit-flipped, truncated or extended DER of a valid CSR are refused with a
// MESHFED_CSR_* code and leave the registry and the store untouched; any
// mutant that still verifies is issued with exactly the expected identity.
import "reflect-metadata";
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import fc from "fast-check";
import { silentLogger } from "../../src/common/logger.js";
import { createCertificateManager } from "../../src/controller/certificates/index.js";
import { CERT_ERROR } from "../../src/controller/certificates/errors.js";
import { identity, makeCsr, MemoryStore, x509 } from "../helpers/certificates.js";
import { assertNamedError } from "../helpers/hostile-input.js";

const CSR_CODES = Object.values(CERT_ERROR).filter((c) => c.startsWith("MESHFED_CSR_"));

function pemOf(der: Uint8Array): string {
  return x509.PemConverter.encode(der.buffer.slice(der.byteOffset, der.byteOffset + der.byteLength) as ArrayBuffer, "CERTIFICATE REQUEST");
}

/** Applies byte edits to a DER: flip, overwrite, truncate, append. */
const derMutation = fc.oneof(
  fc.record({ op: fc.constant("flip" as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ op: fc.constant("set" as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ op: fc.constant("truncate" as const), at: fc.nat() }),
  fc.record({ op: fc.constant("append" as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
);

interface Edit {
  readonly op: "flip" | "set" | "truncate" | "append";
  readonly at?: number;
  readonly bit?: number;
  readonly value?: number;
  readonly bytes?: Uint8Array;
}

function mutate(der: Uint8Array, edits: readonly Edit[]): Uint8Array {
  let out = Uint8Array.from(der);
  for (const e of edits) {
    const at = (e.at ?? 0) % out.length;
    if (e.op === "flip") out[at]! ^= 1 << e.bit!;
    else if (e.op === "set") out[at] = e.value!;
    else if (e.op === "truncate") out = out.slice(0, at);
    else out = Uint8Array.from([...out, ...e.bytes!]);
  }
  return out;
}

test("mutated DER and random PEM bodies are refused by name and change nothing; survivors carry only the expected identity", async () => {
  const store = new MemoryStore();
  const manager = await createCertificateManager({ store, logger: silentLogger() });
  const valid = new Uint8Array(x509.PemConverter.decode(await makeCsr())[0]!);
  const changes: unknown[] = [];
  manager.on("change", (r) => changes.push(r));
  let issued = 0;
  const input = fc.oneof(
    fc.array(derMutation, { minLength: 1, maxLength: 3 }).map((edits) => pemOf(mutate(valid, edits))),
    fc.uint8Array({ maxLength: 600 }).map((bytes) => pemOf(bytes)),
    fc.string({ unit: "binary", maxLength: 400 }).map((body) => `-----BEGIN CERTIFICATE REQUEST-----\n${body}\n-----END CERTIFICATE REQUEST-----\n`),
  );
  await fc.assert(
    fc.asyncProperty(input, async (pem) => {
      const before = { certs: manager.certificates().length, puts: store.puts, changes: changes.length };
      try {
        const result = await manager.issueProxyCertificate(pem, { ...identity, proxyId: randomUUID() });
        issued++;
        assert.match(result.record.identity, /^spiffe:\/\/cluster\.local\/ns\/shop\/svc\/bookstore\/proxy\/[0-9a-f-]{36}$/);
        const cert = new x509.X509Certificate(result.certificatePem);
        assert.equal(cert.getExtension(x509.BasicConstraintsExtension)?.ca ?? false, false);
      } catch (err) {
        assertNamedError(err, CSR_CODES);
        assert.deepEqual({ certs: manager.certificates().length, puts: store.puts, changes: changes.length }, before, "a refused CSR leaves no trace");
      }
    }),
    { numRuns: 200 },
  );
  assert.equal(manager.certificates().length, issued);
});
