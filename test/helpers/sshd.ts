/**
 * A real OpenSSH server for installer tests: its own config, throwaway host
 * and user keys, one loopback address per "host" (127.0.0.x), run in the
 * foreground (-D -e) so the test owns the process and kills it in t.after.
 *
 * Without sshd or ssh-keygen the tests skip with a message, or fail under
 * CI=true (CI installs openssh-server).
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { freePort } from "./agent-process.js";

const run = promisify(execFile);
export const SSHD_BIN = process.env.SSHD_BIN ?? "/usr/sbin/sshd";
const KEYGEN = "ssh-keygen";

interface SkippableTest {
  skip(message: string): void;
  after(fn: () => Promise<void> | void): void;
}

/** True when sshd can run here; otherwise skips the test (or throws under CI=true). */
export async function requireSshd(t: SkippableTest): Promise<boolean> {
  const missing: string[] = [];
  if (!existsSync(SSHD_BIN)) missing.push(`${SSHD_BIN} (set SSHD_BIN)`);
  try {
    await run(KEYGEN, ["-?"]).catch((err: { code?: unknown }) => {
      if (err.code === "ENOENT") throw err;
    });
  } catch {
    missing.push("ssh-keygen");
  }
  if (missing.length === 0) return true;
  const message = `installer tests need OpenSSH (apt-get install openssh-server): missing ${missing.join(", ")}`;
  if (process.env.CI === "true") throw new Error(message);
  t.skip(message);
  return false;
}

export interface KeyPair {
  readonly privateKeyFile: string;
  /** The OpenSSH public key line (`ssh-ed25519 AAAA... comment`). */
  readonly publicLine: string;
}

export async function generateKey(file: string): Promise<KeyPair> {
  await run(KEYGEN, ["-q", "-t", "ed25519", "-N", "", "-C", "meshfed-test", "-f", file]);
  return { privateKeyFile: file, publicLine: (await readFile(`${file}.pub`, "utf8")).trim() };
}

export interface TestSshd {
  readonly address: string;
  readonly port: number;
  readonly hostKey: KeyPair;
  /** The known_hosts line for this server. */
  readonly knownHostsLine: string;
  readonly process: ChildProcess;
  stderr(): string;
  close(): Promise<void>;
}

/** Starts sshd on address:port (port chosen free) accepting `authorizedKeys`, closed in t.after. */
export async function startSshd(t: SkippableTest, options: { address: string; authorizedKeys: readonly string[]; hostKey?: KeyPair }): Promise<TestSshd> {
  const dir = await mkdtemp(join(tmpdir(), "meshfed-sshd-"));
  const hostKey = options.hostKey ?? (await generateKey(join(dir, "host_ed25519")));
  await writeFile(join(dir, "authorized_keys"), `${options.authorizedKeys.join("\n")}\n`);
  // sshd refuses to start without its privilege-separation directory; a
  // distribution's service creates it at boot, a container may not have it.
  if (!existsSync("/run/sshd")) await mkdir("/run/sshd", { mode: 0o755, recursive: true });
  const port = await freePort(options.address);
  const config = [
    `Port ${port}`,
    `ListenAddress ${options.address}`,
    `HostKey ${hostKey.privateKeyFile}`,
    `PidFile ${join(dir, "sshd.pid")}`,
    `AuthorizedKeysFile ${join(dir, "authorized_keys")}`,
    "StrictModes no",
    "UsePAM no",
    "PermitRootLogin prohibit-password",
    "PasswordAuthentication no",
    "KbdInteractiveAuthentication no",
    "PubkeyAuthentication yes",
    "MaxStartups 100",
    "MaxSessions 50",
  ].join("\n");
  await writeFile(join(dir, "sshd_config"), `${config}\n`);
  const child = spawn(SSHD_BIN, ["-D", "-e", "-f", join(dir, "sshd_config")], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  const exited = once(child, "exit");
  const listening = new Promise<void>((resolve, reject) => {
    child.stderr.setEncoding("utf8").on("data", (d: string) => {
      stderr += d;
      if (stderr.includes("Server listening on")) resolve();
    });
    void exited.then(() => reject(new Error(`sshd exited before listening: ${stderr}`)));
  });
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      await exited;
    }
    await rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
  };
  t.after(close);
  await listening;
  const [type, key] = hostKey.publicLine.split(" ");
  return { address: options.address, port, hostKey, knownHostsLine: `[${options.address}]:${port} ${type} ${key}`, process: child, stderr: () => stderr, close };
}
