/**
 * SSH trust against a real sshd: a host key on record connects; an unknown
 * host is refused unless trust-on-first-use is asked for (then recorded,
 * hashed); a changed host key is refused even with that flag; a key the host
 * does not accept is a clear authentication error.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { MeshfedError } from "../../src/common/errors.js";
import { SshSession, type SshTarget } from "../../src/installer/ssh-session.js";
import { tempDir } from "../helpers/temp-dir.js";
import { generateKey, requireSshd, startSshd } from "../helpers/sshd.js";

async function connectCode(target: SshTarget): Promise<string> {
  try {
    const session = await SshSession.connect(target);
    await session.close();
    return "connected";
  } catch (err) {
    assert.ok(err instanceof MeshfedError, String(err));
    return err.code;
  }
}

test("host keys: known -> connects; unknown -> refused, or recorded with trust-on-first-use; changed -> always refused", async (t) => {
  if (!(await requireSshd(t))) return;
  const dir = await tempDir("meshfed-inst-");
  const user = await generateKey(join(dir, "user"));
  const sshd = await startSshd(t, { address: "127.0.0.41", authorizedKeys: [user.publicLine] });
  const knownHosts = join(dir, "known_hosts");
  const target = (acceptNew: boolean): SshTarget => ({
    host: sshd.address, port: sshd.port, user: "root", identityFile: user.privateKeyFile, hostKeys: { knownHostsFile: knownHosts, acceptNew },
  });

  assert.equal(await connectCode(target(false)), "MESHFED_SSH_HOST_KEY_UNKNOWN");
  assert.equal(await connectCode(target(true)), "connected");
  const recorded = await readFile(knownHosts, "utf8");
  assert.match(recorded, /^\|1\|[^|]+\|[^ ]+ ssh-ed25519 /, "recorded hashed, as HashKnownHosts does");
  assert.equal(await connectCode(target(false)), "connected", "the recorded key is trusted from then on");

  // The same address now answers with another host key: a reinstall, or someone in the middle.
  await sshd.close();
  const impostor = await startSshd(t, { address: "127.0.0.41", authorizedKeys: [user.publicLine] });
  await writeFile(knownHosts, `${recorded}${impostor.knownHostsLine.replace(/ ssh-ed25519 .*/, ` ${sshd.knownHostsLine.split(" ").slice(1).join(" ")}`)}\n`);
  const changed = { ...target(true), port: impostor.port };
  let error: unknown;
  await SshSession.connect(changed).then((s) => s.close(), (err: unknown) => (error = err));
  assert.ok(error instanceof MeshfedError);
  assert.equal(error.code, "MESHFED_SSH_HOST_KEY_CHANGED");
  assert.match(error.message, /CHANGED.*SHA256:.*--accept-new-host-key never overrides this/s);
});

test("wrong credentials: a key the host does not accept is MESHFED_SSH_AUTH_FAILED naming user, host and key", async (t) => {
  if (!(await requireSshd(t))) return;
  const dir = await tempDir("meshfed-inst-");
  const allowed = await generateKey(join(dir, "allowed"));
  const stranger = await generateKey(join(dir, "stranger"));
  const sshd = await startSshd(t, { address: "127.0.0.42", authorizedKeys: [allowed.publicLine] });
  await writeFile(join(dir, "known_hosts"), `${sshd.knownHostsLine}\n`);
  let error: unknown;
  await SshSession.connect({
    host: sshd.address, port: sshd.port, user: "root", identityFile: stranger.privateKeyFile, hostKeys: { knownHostsFile: join(dir, "known_hosts"), acceptNew: false },
  }).then((s) => s.close(), (err: unknown) => (error = err));
  assert.ok(error instanceof MeshfedError);
  assert.equal(error.code, "MESHFED_SSH_AUTH_FAILED");
  assert.ok(error.message.includes(`root@[127.0.0.42]:${sshd.port}`) && error.message.includes(stranger.privateKeyFile), error.message);
});
