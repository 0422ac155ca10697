/**
 * A hand-written fake of OUR ProxyControlPlane service (proto/meshfed/v1)
 * for the agent tests, on real grpc-js with TLS: a test CA generated at
 * setup, a server certificate with the controller's SPIFFE ID, proxy
 * certificates issued from the agent's CSR. Enroll follows the proto's
 * refusal contract (status + `meshfed-code` trailer + code as first word);
 * Connect requires a client certificate this fake issued and records every
 * agent message. Tests drive the controller side through `sessions`.
 */
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { randomUUID, webcrypto } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import { CODE_METADATA_KEY, loadProto, MAX_MESSAGE_BYTES, type AgentMessage__Output, type ControllerMessage } from "../../src/common/proto.js";

const crypto = webcrypto;
const ALG = { name: "ECDSA", hash: "SHA-256" } as const;
const EC = { name: "ECDSA", namedCurve: "P-256" } as const;

export interface TestPki {
  readonly caPem: string;
  readonly caKeys: webcrypto.CryptoKeyPair;
  readonly caCert: x509.X509Certificate;
  readonly serverCertPem: string;
  readonly serverKeyPem: string;
}

async function keyPem(key: webcrypto.CryptoKey): Promise<string> {
  return x509.PemConverter.encode(await crypto.subtle.exportKey("pkcs8", key), "PRIVATE KEY");
}

export async function makeCa(name = "CN=meshfed test CA"): Promise<{ caPem: string; caKeys: webcrypto.CryptoKeyPair; caCert: x509.X509Certificate }> {
  const caKeys = await crypto.subtle.generateKey(EC, true, ["sign", "verify"]);
  const now = Date.now();
  const caCert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: "01", name, keys: caKeys, signingAlgorithm: ALG,
    notBefore: new Date(now - 60_000), notAfter: new Date(now + 86_400_000),
    extensions: [new x509.BasicConstraintsExtension(true, undefined, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true)],
  }, crypto);
  return { caPem: caCert.toString("pem"), caKeys, caCert };
}

export async function makePki(serverUri = "spiffe://cluster.local/meshfed/controller"): Promise<TestPki> {
  const ca = await makeCa();
  const serverKeys = await crypto.subtle.generateKey(EC, true, ["sign", "verify"]);
  const now = Date.now();
  const serverCert = await x509.X509CertificateGenerator.create({
    serialNumber: "02", subject: "CN=meshfed-controller", issuer: ca.caCert.subject, signingKey: ca.caKeys.privateKey, publicKey: serverKeys.publicKey,
    signingAlgorithm: ALG, notBefore: new Date(now - 60_000), notAfter: new Date(now + 86_400_000),
    extensions: [
      new x509.SubjectAlternativeNameExtension([{ type: "url", value: serverUri }, { type: "dns", value: "localhost" }, { type: "ip", value: "127.0.0.1" }]),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.BasicConstraintsExtension(false),
    ],
  }, crypto);
  return { ...ca, serverCertPem: serverCert.toString("pem"), serverKeyPem: await keyPem(serverKeys.privateKey) };
}

/** A leaf signed by `pki`'s CA for the given public key (from a CSR). */
export async function issueLeaf(pki: Pick<TestPki, "caKeys" | "caCert">, publicKey: x509.PublicKey | webcrypto.CryptoKey, uri: string, serial: string, clientAuth = true): Promise<x509.X509Certificate> {
  const now = Date.now();
  return x509.X509CertificateGenerator.create({
    serialNumber: serial, subject: "", issuer: pki.caCert.subject, signingKey: pki.caKeys.privateKey, publicKey,
    signingAlgorithm: ALG, notBefore: new Date(now - 60_000), notAfter: new Date(now + 365 * 86_400_000),
    extensions: [
      new x509.SubjectAlternativeNameExtension([{ type: "url", value: uri }], true),
      new x509.ExtendedKeyUsageExtension(clientAuth ? [x509.ExtendedKeyUsage.clientAuth, x509.ExtendedKeyUsage.serverAuth] : [x509.ExtendedKeyUsage.serverAuth]),
      new x509.BasicConstraintsExtension(false),
    ],
  }, crypto);
}

/** A service certificate + key as the controller would push it. */
export async function makeServiceCertificate(pki: TestPki, serial: string): Promise<{ certificatePem: string; privateKeyPem: string; notAfter: string }> {
  const keys = await crypto.subtle.generateKey(EC, true, ["sign", "verify"]);
  const cert = await issueLeaf(pki, keys.publicKey, "spiffe://cluster.local/ns/shop/svc/bookstore", serial);
  return { certificatePem: cert.toString("pem"), privateKeyPem: await keyPem(keys.privateKey), notAfter: cert.notAfter.toISOString() };
}

export interface Refusal {
  readonly status: grpc.status;
  readonly code: string;
  readonly details: string;
}

export class FakeSession {
  readonly messages: AgentMessage__Output[] = [];
  ended = false;
  readonly #waiters = new Set<() => void>();

  constructor(readonly call: grpc.ServerDuplexStream<AgentMessage__Output, ControllerMessage>, readonly peerProxyId: string) {}

  send(msg: ControllerMessage): void {
    this.call.write(msg);
  }

  /** Ends the stream with a status (e.g. a refusal) or OK. */
  end(status?: Refusal): void {
    if (this.ended) return;
    this.ended = true;
    if (status === undefined) {
      this.call.end();
      return;
    }
    const md = new grpc.Metadata();
    md.set(CODE_METADATA_KEY, status.code);
    this.call.emit("error", { code: status.status, details: `${status.code} ${status.details}`, metadata: md });
  }

  /** Resolves with the first recorded message matching `pick`. */
  async next<T>(pick: (m: AgentMessage__Output) => T | undefined, timeoutMs = 10_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      for (const m of this.messages) {
        const v = pick(m);
        if (v !== undefined) return v;
      }
      if (Date.now() > deadline) throw new Error("timed out waiting for an agent message");
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 50);
        this.#waiters.add(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  record(m: AgentMessage__Output): void {
    this.messages.push(m);
    for (const w of this.#waiters) w();
    this.#waiters.clear();
  }
}

export interface FakeControllerOptions {
  readonly pki: TestPki;
  /** token -> service; each token enrolls once. */
  readonly tokens?: Record<string, string>;
  /** Overrides enrollment: return a refusal to refuse. */
  readonly enroll?: (token: string) => Refusal | undefined;
  /** Called for each new stream after Hello arrived. */
  readonly onSession?: (s: FakeSession) => void;
}

export class FakeController {
  readonly pki: TestPki;
  readonly sessions: FakeSession[] = [];
  readonly issued = new Map<string, { proxyId: string; service: string }>();
  enrollCalls = 0;
  #server: grpc.Server | undefined;
  #port = 0;
  readonly #options: FakeControllerOptions;
  readonly #usedTokens = new Set<string>();
  readonly #sessionWaiters = new Set<() => void>();

  constructor(options: FakeControllerOptions) {
    this.pki = options.pki;
    this.#options = options;
  }

  get address(): string {
    return `127.0.0.1:${this.#port}`;
  }

  async start(port = 0): Promise<void> {
    const server = new grpc.Server({ "grpc.max_receive_message_length": MAX_MESSAGE_BYTES, "grpc.keepalive_permit_without_calls": 1 });
    const proto = loadProto();
    server.addService(proto.meshfed.v1.ProxyControlPlane.service, {
      Enroll: (call: grpc.ServerUnaryCall<{ token: string; csrPem: string }, unknown>, cb: grpc.sendUnaryData<unknown>) => void this.#enroll(call, cb),
      Connect: (call: grpc.ServerDuplexStream<AgentMessage__Output, ControllerMessage>) => this.#connect(call),
    });
    // One provider for both roles: grpc-js 1.14's createCertificateProviderServerCredentials
    // passes its (ca, identity) arguments to a constructor declared (identity, ca).
    const provider = staticProvider({ caCertificate: Buffer.from(this.pki.caPem) }, { certificate: Buffer.from(this.pki.serverCertPem), privateKey: Buffer.from(this.pki.serverKeyPem) });
    // Client certificates requested but optional: Enroll has none, Connect checks its own.
    const creds = grpc.experimental.createCertificateProviderServerCredentials(provider, provider, false);
    this.#port = await new Promise<number>((resolve, reject) => server.bindAsync(`127.0.0.1:${port}`, creds, (err, p) => (err ? reject(err) : resolve(p))));
    this.#server = server;
  }

  /** Abrupt stop, like kill -9 from the agent's point of view. */
  stop(): void {
    this.#server?.forceShutdown();
    this.#server = undefined;
  }

  async waitForSession(n = 1, timeoutMs = 10_000): Promise<FakeSession> {
    const deadline = Date.now() + timeoutMs;
    while (this.sessions.length < n) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for stream #${n}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 50);
        this.#sessionWaiters.add(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return this.sessions[n - 1]!;
  }

  async #enroll(call: grpc.ServerUnaryCall<{ token: string; csrPem: string }, unknown>, cb: grpc.sendUnaryData<unknown>): Promise<void> {
    this.enrollCalls++;
    const { token, csrPem } = call.request;
    const refuse = (r: Refusal) => {
      const md = new grpc.Metadata();
      md.set(CODE_METADATA_KEY, r.code);
      cb({ code: r.status, details: `${r.code} ${r.details}`, metadata: md });
    };
    const custom = this.#options.enroll?.(token);
    if (custom !== undefined) return refuse(custom);
    const service = this.#options.tokens?.[token];
    if (service === undefined) return refuse({ status: grpc.status.PERMISSION_DENIED, code: "MESHFED_TOKEN_UNKNOWN", details: "no such join token" });
    if (this.#usedTokens.has(token)) return refuse({ status: grpc.status.PERMISSION_DENIED, code: "MESHFED_TOKEN_USED_UP", details: "the token was already used 1 time(s) of 1" });
    this.#usedTokens.add(token);
    const csr = new x509.Pkcs10CertificateRequest(csrPem);
    if (!(await csr.verify(crypto))) return refuse({ status: grpc.status.INVALID_ARGUMENT, code: "MESHFED_CSR_SIGNATURE", details: "bad CSR signature" });
    const proxyId = randomUUID();
    const [ns, name] = service.split("/") as [string, string];
    const serial = (this.issued.size + 16).toString(16).padStart(4, "1");
    const cert = await issueLeaf(this.pki, csr.publicKey, `spiffe://cluster.local/ns/${ns}/svc/${name}/proxy/${proxyId}`, serial);
    this.issued.set(cert.serialNumber.toLowerCase(), { proxyId, service });
    cb(null, { proxyId, serviceNamespace: ns, serviceName: name, certificatePem: cert.toString("pem"), caBundlePem: this.pki.caPem, notAfter: cert.notAfter.toISOString() });
  }

  #connect(call: grpc.ServerDuplexStream<AgentMessage__Output, ControllerMessage>): void {
    const peer = call.getAuthContext().sslPeerCertificate;
    const serial = peer?.serialNumber?.toLowerCase().replace(/^0+/, "");
    const entry = [...this.issued.entries()].find(([s]) => s.replace(/^0+/, "") === serial)?.[1];
    if (entry === undefined) {
      const md = new grpc.Metadata();
      md.set(CODE_METADATA_KEY, "MESHFED_CERT_UNKNOWN");
      call.emit("error", { code: grpc.status.UNAUTHENTICATED, details: "MESHFED_CERT_UNKNOWN no proxy certificate of this mesh", metadata: md });
      return;
    }
    const session = new FakeSession(call, entry.proxyId);
    let announced = false;
    call.on("data", (m: AgentMessage__Output) => {
      session.record(m);
      if (!announced && m.message === "hello") {
        announced = true;
        // Headers at once, as the real controller does by sending its first message.
        call.sendMetadata(new grpc.Metadata());
        this.sessions.push(session);
        for (const w of this.#sessionWaiters) w();
        this.#sessionWaiters.clear();
        this.#options.onSession?.(session);
      }
    });
    call.on("error", () => undefined);
    call.on("end", () => session.end());
  }
}

function staticProvider(ca?: grpc.experimental.CaCertificateUpdate, id?: grpc.experimental.IdentityCertificateUpdate): grpc.experimental.CertificateProvider {
  return {
    // Asynchronously: grpc-js registers its watcher only after adding the listener.
    addCaCertificateListener: (l) => setImmediate(() => l(ca ?? null)),
    removeCaCertificateListener: () => undefined,
    addIdentityCertificateListener: (l) => setImmediate(() => l(id ?? null)),
    removeIdentityCertificateListener: () => undefined,
  };
}

export { grpc, x509 };
