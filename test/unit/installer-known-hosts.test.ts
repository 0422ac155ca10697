import { test } from "node:test";
import assert from "node:assert/strict";
import { createHmac, generateKeyPairSync } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { checkHostKey, fingerprint, keyType, knownHostName } from "../../src/installer/known-hosts.js";

/** An ssh-ed25519 public-key blob as SSH sends it (string type, string key). */
function ed25519Blob(): Buffer {
  const raw = generateKeyPairSync("ed25519").publicKey.export({ format: "der", type: "spki" }).subarray(-32);
  const str = (b: Buffer) => Buffer.concat([Buffer.from([0, 0, 0, b.length]), b]);
  return Buffer.concat([str(Buffer.from("ssh-ed25519")), str(raw)]);
}

async function file(t: { after: (fn: () => Promise<void>) => void }, text: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "meshfed-kh-"));
  t.after(() => rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 }));
  await writeFile(join(dir, "known_hosts"), text);
  return join(dir, "known_hosts");
}

const key = ed25519Blob();
const other = ed25519Blob();
const line = (names: string, k = key) => `${names} ssh-ed25519 ${k.toString("base64")}\n`;
const hashed = (name: string) => {
  const salt = Buffer.from("0123456789abcdefghij");
  return `|1|${salt.toString("base64")}|${createHmac("sha1", salt).update(name).digest("base64")}`;
};

test("known_hosts: names, blobs, fingerprints", () => {
  assert.equal(knownHostName("10.0.0.1", 22), "10.0.0.1");
  assert.equal(knownHostName("10.0.0.1", 2222), "[10.0.0.1]:2222");
  assert.equal(keyType(key), "ssh-ed25519");
  assert.match(fingerprint(key), /^SHA256:[A-Za-z0-9+/]{43}$/);
});

test("known_hosts: plain, bracketed, listed, wildcard and hashed entries match; negation and other hosts do not", async (t) => {
  const cases: Array<[string, string, number, boolean]> = [
    [line("10.0.0.1"), "10.0.0.1", 22, true],
    [line("[10.0.0.1]:2222"), "10.0.0.1", 2222, true],
    [line("[10.0.0.1]:2222"), "10.0.0.1", 22, false],
    [line("db-1,10.0.0.1"), "10.0.0.1", 22, true],
    [line("10.0.0.*"), "10.0.0.7", 22, true],
    [line("10.0.0.*,!10.0.0.7"), "10.0.0.7", 22, false],
    [line(hashed("[10.0.0.1]:2222")), "10.0.0.1", 2222, true],
    [`# comment\n\n${line("10.0.0.2")}`, "10.0.0.1", 22, false],
  ];
  for (const [text, host, port, known] of cases) {
    const decision = await checkHostKey({ knownHostsFile: await file(t, text), acceptNew: false }, host, port, key);
    assert.equal(decision.ok, known, `${text.trim()} vs ${host}:${port}`);
    if (!decision.ok) assert.equal(decision.error.code, "MESHFED_SSH_HOST_KEY_UNKNOWN");
  }
});

test("known_hosts: a different key is CHANGED even with trust-on-first-use; @revoked is refused; unknown hosts are recorded only when asked", async (t) => {
  const changed = await checkHostKey({ knownHostsFile: await file(t, line("10.0.0.1", other)), acceptNew: true }, "10.0.0.1", 22, key);
  assert.equal(changed.ok ? "" : changed.error.code, "MESHFED_SSH_HOST_KEY_CHANGED");
  const revoked = await checkHostKey({ knownHostsFile: await file(t, `@revoked * ssh-ed25519 ${key.toString("base64")}\n${line("10.0.0.1")}`), acceptNew: true }, "10.0.0.1", 22, key);
  assert.equal(revoked.ok ? "" : revoked.error.code, "MESHFED_SSH_HOST_KEY_REVOKED");

  const empty = await file(t, "");
  const tofu = await checkHostKey({ knownHostsFile: empty, acceptNew: true }, "10.0.0.9", 2200, key);
  assert.deepEqual(tofu, { ok: true, recorded: true });
  assert.doesNotMatch(await readFile(empty, "utf8"), /10\.0\.0\.9/, "recorded hashed");
  assert.deepEqual(await checkHostKey({ knownHostsFile: empty, acceptNew: false }, "10.0.0.9", 2200, key), { ok: true, recorded: false });
  const missing = await checkHostKey({ knownHostsFile: join(tmpdir(), "meshfed-no-such-dir", "known_hosts"), acceptNew: false }, "10.0.0.9", 22, key);
  assert.equal(missing.ok ? "" : missing.error.code, "MESHFED_SSH_HOST_KEY_UNKNOWN");
});
