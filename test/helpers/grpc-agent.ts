// A minimal client of meshfed's wire contract for controller-side tests: it
// enrolls with a real CSR and holds a real mTLS Connect stream. The agent
// itself (src/agent) is tested end to end elsewhere.
import * as grpc from "@grpc/grpc-js";
import { X509Certificate } from "node:crypto";
import { crypto, makeCsr, p256 } from "./certificates.js";
import { scaled } from "./wait.js";
import { CODE_METADATA_KEY, loadProto, type ControllerMessage__Output, type EnrollResponse__Output } from "../../src/common/proto.js";

export function serverIdentityCheck(_host: string, cert: { subjectaltname?: string }): Error | undefined {
  return /URI:spiffe:\/\/[^/,]+\/meshfed\/controller(,|$)/.test(cert.subjectaltname ?? "") ? undefined : new Error("not the meshfed controller");
}

export interface Enrolled {
  readonly keyPem: string;
  readonly response: EnrollResponse__Output;
}

export async function generateKeyPem(): Promise<{ keys: Awaited<ReturnType<typeof p256>>; pem: string }> {
  const keys = await p256();
  const der = Buffer.from(await crypto.subtle.exportKey("pkcs8", keys.privateKey));
  return { keys, pem: `-----BEGIN PRIVATE KEY-----\n${der.toString("base64").replace(/(.{64})/g, "$1\n").trim()}\n-----END PRIVATE KEY-----\n` };
}

export class EnrollError extends Error {
  constructor(readonly status: grpc.status, readonly code: string, details: string) {
    super(details);
  }
}

/** Enrolls with a fresh key, or with `key` (a retry by the same agent). */
export async function enroll(address: string, caPem: string, token: string, key?: Awaited<ReturnType<typeof generateKeyPem>>): Promise<Enrolled> {
  const { keys, pem } = key ?? (await generateKeyPem());
  const csrPem = await makeCsr({ keys, name: "", extensions: [] });
  const { meshfed } = loadProto();
  const client = new meshfed.v1.ProxyControlPlane(address, grpc.credentials.createSsl(Buffer.from(caPem), null, null, { checkServerIdentity: serverIdentityCheck }));
  try {
    const response = await new Promise<EnrollResponse__Output>((resolve, reject) => {
      client.Enroll({ token, csrPem, agentVersion: "test", hostname: "test-host" }, { deadline: Date.now() + 10_000 }, (err, res) => {
        if (err) reject(new EnrollError(err.code, String(err.metadata?.get(CODE_METADATA_KEY)[0] ?? ""), err.details));
        else resolve(res!);
      });
    });
    return { keyPem: pem, response };
  } finally {
    client.close();
  }
}

export interface StreamEnd {
  readonly status: grpc.status;
  readonly code: string;
  readonly details: string;
}

/** One Connect stream; records every message and how the stream ended. */
export class TestStream {
  readonly messages: ControllerMessage__Output[] = [];
  readonly ended: Promise<StreamEnd>;
  readonly #client: InstanceType<ReturnType<typeof loadProto>["meshfed"]["v1"]["ProxyControlPlane"]>;
  readonly #call: grpc.ClientDuplexStream<unknown, ControllerMessage__Output>;
  readonly #waiters = new Set<() => void>();

  constructor(address: string, caPem: string, keyPem: string, certPem: string) {
    const { meshfed } = loadProto();
    this.#client = new meshfed.v1.ProxyControlPlane(
      address,
      grpc.credentials.createSsl(Buffer.from(caPem), Buffer.from(keyPem), Buffer.from(certPem), { checkServerIdentity: serverIdentityCheck }),
    );
    this.#call = this.#client.Connect() as unknown as grpc.ClientDuplexStream<unknown, ControllerMessage__Output>;
    this.#call.on("data", (m: ControllerMessage__Output) => {
      this.messages.push(m);
      for (const w of this.#waiters) w();
    });
    this.ended = new Promise((resolve) => {
      this.#call.on("error", (err: grpc.ServiceError) => resolve({ status: err.code, code: String(err.metadata?.get(CODE_METADATA_KEY)[0] ?? ""), details: err.details }));
      this.#call.on("status", (s: grpc.StatusObject) => {
        if (s.code === grpc.status.OK) resolve({ status: s.code, code: "", details: s.details });
      });
    });
    void this.ended.then(() => {
      for (const w of this.#waiters) w();
    });
  }

  send(message: unknown): void {
    this.#call.write(message);
  }

  /** Stops reading the stream (HTTP/2 flow control then holds the controller's writes), as a stuck agent would. */
  pause(): void {
    this.#call.pause();
  }

  resume(): void {
    this.#call.resume();
  }

  hello(proxyId: string, addresses: string[], endpoints: Array<{ ip: string; port: number }>, held = { version: 0, hash: "" }): void {
    this.send({ hello: { proxyId, hostAddresses: addresses, endpoints, agentVersion: "test", proxyVersion: "", configVersion: held.version, configHash: held.hash } });
  }

  /**
   * Waits until `predicate` matches a message (checking ones already received), or fails after
   * `timeoutMs` × MESHFED_TEST_TIME_SCALE. Woken by each message rather than polling (waitFor polls).
   */
  async next(predicate: (m: ControllerMessage__Output) => boolean, timeoutMs = 10_000, from = 0): Promise<ControllerMessage__Output> {
    const started = Date.now();
    timeoutMs = scaled(timeoutMs);
    for (;;) {
      const found = this.messages.slice(from).find(predicate);
      if (found) return found;
      if (Date.now() - started > timeoutMs) throw new Error(`no matching message within ${timeoutMs} ms; got ${this.messages.map((m) => m.message).join(",")}`);
      await new Promise<void>((resolve) => {
        const w = () => {
          this.#waiters.delete(w);
          clearTimeout(t);
          resolve();
        };
        const t = setTimeout(w, 50);
        this.#waiters.add(w);
      });
    }
  }

  close(): void {
    this.#call.cancel();
    this.#client.close();
  }
}

export function proxyIdOf(certPem: string): string {
  return /\/proxy\/([0-9a-f-]{36})/.exec(new X509Certificate(certPem).subjectAltName ?? "")![1]!;
}
