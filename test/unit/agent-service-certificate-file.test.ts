import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { DataDir } from "../../src/agent/data-dir.js";
import { makePki, makeServiceCertificate } from "../helpers/agent-fake-controller.js";
import { tempDir } from "../helpers/temp-dir.js";

test("the service certificate and its key are one atomic file; a torn pair left by an older agent is dropped", async () => {
  const dir = await tempDir("meshfed-agent-");
  const pki = await makePki();
  const [a, b] = [await makeServiceCertificate(pki, "0a"), await makeServiceCertificate(pki, "0b")];
  const data = new DataDir(join(dir, "data"));
  await data.init();
  const meta = { serial: "0a", notAfter: a.notAfter, renewAt: a.notAfter };

  await data.saveServiceCertificate({ ...a, ...meta, caBundlePem: pki.caPem });
  assert.equal((await stat(data.file.serviceBundle())).mode & 0o777, 0o600);
  // The PEM copies written after it may be anything (a crash between them): they are not read.
  await writeFile(data.file.serviceKey(), b.privateKeyPem);
  assert.equal((await data.load()).serviceCertificate?.privateKeyPem, a.privateKeyPem);

  // Older agents' layout: four files, no certificate.json.
  await rm(data.file.serviceBundle());
  await mkdir(join(dir, "data", "service"), { recursive: true });
  const legacy = async (cert: string, key: string) => {
    await writeFile(data.file.serviceCert(), cert);
    await writeFile(data.file.serviceKey(), key);
    await writeFile(data.file.serviceMeta(), JSON.stringify(meta));
    return (await data.load()).serviceCertificate;
  };
  assert.equal((await legacy(a.certificatePem, a.privateKeyPem))?.serial, "0a", "a whole legacy pair is loaded");
  assert.equal(await legacy(a.certificatePem, b.privateKeyPem), undefined, "a key beside another key's certificate is not");
  assert.equal(await legacy(b.certificatePem, b.privateKeyPem), undefined, "nor a certificate that is not the one meta.json names");
});
