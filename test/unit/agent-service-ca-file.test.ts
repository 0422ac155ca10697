// Issue 23 item 4: nothing in the agent reads service/ca.pem (Pipy is served
// the stream's bundle, data/ca.pem, as /certs/ca.pem), and a copy written
// with each service certificate kept a retired root after a CA rotation. The
// agent no longer writes it and removes the copy an older agent left.
import { test } from "node:test";
import assert from "node:assert/strict";
import { access, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { DataDir } from "../../src/agent/data-dir.js";
import { makePki, makeServiceCertificate } from "../helpers/agent-fake-controller.js";
import { tempDir } from "../helpers/temp-dir.js";

const exists = (path: string) => access(path).then(() => true, () => false);

test("saving a service certificate writes no service/ca.pem and removes a stale one", async () => {
  const dir = await tempDir("meshfed-agent-");
  const pki = await makePki();
  const cert = await makeServiceCertificate(pki, "0a");
  const data = new DataDir(join(dir, "data"));
  await data.init();
  const stale = join(dir, "data", "service", "ca.pem");
  // What an older agent left: the bundle of the day, with a root retired since.
  await mkdir(join(dir, "data", "service"), { recursive: true });
  await writeFile(stale, "-----BEGIN CERTIFICATE-----\nretired root\n-----END CERTIFICATE-----\n");

  await data.saveServiceCertificate({ ...cert, serial: "0a", notAfter: cert.notAfter, renewAt: cert.notAfter, caBundlePem: pki.caPem });
  assert.equal(await exists(stale), false, "service/ca.pem is gone");
  // The operators' copies that are documented stay.
  assert.equal(await readFile(join(dir, "data", "service", "cert.pem"), "utf8"), cert.certificatePem);
  assert.equal((await data.load()).serviceCertificate?.serial, "0a", "the certificate loads without it");
});
