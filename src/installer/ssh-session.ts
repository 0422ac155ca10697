/**
 * One SSH connection to a host (ssh2), with the host key checked against
 * known_hosts before anything is sent (known-hosts.ts), public-key
 * authentication (a key file, else the ssh-agent), and scripts run with
 * `sh -c` whatever the user's login shell.
 */
import { readFile } from "node:fs/promises";
import { Client, type ClientChannel, type ConnectConfig } from "ssh2";
import { MeshfedError } from "../common/errors.js";
import { checkHostKey, knownHostName, type HostKeyPolicy } from "./known-hosts.js";
import { shellQuote, type CommandResult, type RemoteShell, type RunOptions } from "./remote-shell.js";

export const SSH_ERRORS = {
  auth: "MESHFED_SSH_AUTH_FAILED",
  connect: "MESHFED_SSH_CONNECT_FAILED",
  key: "MESHFED_SSH_KEY_UNREADABLE",
  exec: "MESHFED_SSH_EXEC_FAILED",
} as const;

export interface SshTarget {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  /** Private key file; without it the ssh-agent at $SSH_AUTH_SOCK is used. */
  readonly identityFile?: string;
  readonly hostKeys: HostKeyPolicy;
  readonly connectTimeoutMs?: number;
}

export class SshSession implements RemoteShell {
  readonly #client: Client;
  readonly name: string;
  readonly #ended: Promise<void>;

  private constructor(client: Client, name: string) {
    this.#client = client;
    this.name = name;
    // Created up front: the server may drop the connection before close() is called.
    this.#ended = new Promise((resolve) => client.once("close", () => resolve()));
  }

  static async connect(target: SshTarget): Promise<SshSession> {
    const name = `${target.user}@${knownHostName(target.host, target.port)}`;
    const auth = await authConfig(target);
    const client = new Client();
    let hostKeyError: MeshfedError | undefined;
    const config: ConnectConfig = {
      host: target.host,
      port: target.port,
      username: target.user,
      readyTimeout: target.connectTimeoutMs ?? 20_000,
      ...auth,
      hostVerifier: (key: Buffer, verify: (valid: boolean) => void) => {
        checkHostKey(target.hostKeys, target.host, target.port, key).then(
          (decision) => {
            if (!decision.ok) hostKeyError = decision.error;
            verify(decision.ok);
          },
          (err: unknown) => {
            hostKeyError = new MeshfedError(SSH_ERRORS.connect, `cannot check the host key of ${name}: ${(err as Error).message}`, { cause: err });
            verify(false);
          },
        );
      },
    };
    await new Promise<void>((resolve, reject) => {
      client.once("ready", () => resolve());
      client.once("error", (err: Error & { level?: string; code?: string }) => {
        client.end();
        if (hostKeyError !== undefined) reject(hostKeyError);
        else if (err.level === "client-authentication") {
          const how = target.identityFile !== undefined ? `key ${target.identityFile}` : "the ssh-agent's keys";
          reject(new MeshfedError(SSH_ERRORS.auth, `${name} refused authentication with ${how} (wrong user or key not in authorized_keys)`, { cause: err }));
        } else reject(new MeshfedError(SSH_ERRORS.connect, `cannot connect to ${name}: ${err.code ?? err.message}`, { cause: err }));
      });
      client.connect(config);
    });
    return new SshSession(client, name);
  }

  run(script: string, options: RunOptions = {}): Promise<CommandResult> {
    return new Promise((resolve, reject) => {
      this.#client.exec(`sh -c ${shellQuote(script)}`, (err: Error | undefined, stream: ClientChannel) => {
        if (err) {
          reject(new MeshfedError(SSH_ERRORS.exec, `${this.name}: cannot run a command: ${err.message}`, { cause: err }));
          return;
        }
        const stdout: Buffer[] = [];
        const stderr: Buffer[] = [];
        stream.on("data", (d: Buffer) => stdout.push(d));
        stream.stderr.on("data", (d: Buffer) => stderr.push(d));
        stream.on("close", (code: number | null, signal?: string) => {
          resolve({ code: code ?? (signal !== undefined ? 128 : 255), stdout: Buffer.concat(stdout).toString("utf8"), stderr: Buffer.concat(stderr).toString("utf8") });
        });
        stream.end(options.stdin);
      });
    });
  }

  /** Ends the connection; idempotent. */
  async close(): Promise<void> {
    this.#client.end();
    await this.#ended;
  }
}

async function authConfig(target: SshTarget): Promise<Pick<ConnectConfig, "privateKey" | "agent">> {
  if (target.identityFile !== undefined) {
    try {
      return { privateKey: await readFile(target.identityFile) };
    } catch (err) {
      throw new MeshfedError(SSH_ERRORS.key, `cannot read the SSH key ${target.identityFile}: ${(err as Error).message}`, { cause: err });
    }
  }
  const agent = process.env.SSH_AUTH_SOCK;
  if (agent === undefined || agent === "") {
    throw new MeshfedError(SSH_ERRORS.key, "no SSH key: give --identity KEY (or ssh.key in the inventory), or run an ssh-agent (SSH_AUTH_SOCK)");
  }
  return { agent };
}
