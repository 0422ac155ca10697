/**
 * The transport's floor under the mesh-wide change (issue 17): what grpc-js
 * itself costs a server to write one message to each of S open mTLS streams
 * and to read one ACK back from each, with no catalog, render or encode.
 *
 * A bare grpc-js server in a child process (P-256 certificates from our own
 * CA, mutual TLS, channelz off as in the controller) holds one bidi stream per
 * client; two client processes open S connections, one stream each, and
 * answer every message with a 12-byte ACK, as agents do. The server writes
 * one fresh buffer of `bytes` to every stream, 64 at a time with a yield in
 * between (the controller's PUSH_SLICE pattern), and waits for every ACK.
 * Reported: the server's CPU per message + ACK (process.cpuUsage, all its
 * threads) and the wall time, best of `rounds` after one warm-up round: the
 * agents scenario's "CPU per agent's config" is read against it. Also the
 * server's CPU per connection while the clients connect (mutual TLS
 * handshake, HTTP/2 session, one stream and its first message): the
 * transport's floor under a reconnect, read against the storm's CPU per
 * reconnect.
 */
import { fork, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import { silentLogger } from "../src/common/logger.js";
import { createCertificateManager } from "../src/controller/certificates/index.js";
import { MemoryStore } from "./sources.js";

export type Report = (scenario: string, figure: string, value: number, unit: string) => void;

export interface PushFloorOptions {
  readonly streams: number;
  /** Bytes per message: about what an agent receives in the mesh-wide change (config.json, the new view.json, references). */
  readonly bytes: number;
  readonly rounds: number;
  readonly report: Report;
}

const METHOD = "/meshfed.bench.Floor/Connect";
const SLICE = 64;
const ACK = Buffer.alloc(12, 1);
const identity = (b: Buffer): Buffer => b;
const definition: grpc.ServiceDefinition = {
  Connect: { path: METHOD, requestStream: true, responseStream: true, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity, originalName: "connect" },
};

type ToServer = { type: "count" } | { type: "cpu" } | { type: "push"; bytes: number };
type FromServer =
  | { type: "ready"; port: number; caPem: string; clientCertPem: string; clientKeyPem: string }
  | { type: "count"; streams: number }
  | { type: "cpu"; micros: number }
  | { type: "pushed"; cpuMs: number; wallMs: number; messages: number };

async function serverChild(): Promise<void> {
  const certificates = await createCertificateManager({ store: new MemoryStore(), logger: silentLogger() });
  const serving = await certificates.controllerCertificate(3_600_000);
  const client = await certificates.serviceCertificate({ namespace: "bench", name: "floor" });
  const streams: grpc.ServerDuplexStream<Buffer, Buffer>[] = [];
  let acks = 0;
  let wanted = 0;
  let allAcked: (() => void) | undefined;
  const server = new grpc.Server({ "grpc.enable_channelz": 0 });
  server.addService(definition, {
    Connect: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
      streams.push(call);
      call.on("data", () => {
        acks += 1;
        if (acks === wanted) allAcked?.();
      });
      call.on("error", () => undefined);
    },
  });
  const credentials = grpc.ServerCredentials.createSsl(Buffer.from(certificates.caBundle()), [{ private_key: Buffer.from(serving.privateKeyPem), cert_chain: Buffer.from(serving.certificatePem) }], true);
  const port = await new Promise<number>((resolve, reject) => server.bindAsync("127.0.0.1:0", credentials, (err, p) => (err ? reject(err) : resolve(p))));
  const send = (m: FromServer) => process.send?.(m);
  process.on("message", (m: ToServer) => {
    if (m.type === "count") send({ type: "count", streams: streams.length });
    if (m.type === "cpu") send({ type: "cpu", micros: (({ user, system }) => user + system)(process.cpuUsage()) });
    if (m.type !== "push") return;
    void (async () => {
      const payload = Buffer.alloc(m.bytes, 7);
      // The ACKs counted are those of this round: every earlier one has arrived (the parent waits for them).
      acks = 0;
      wanted = streams.length;
      const done = new Promise<void>((resolve) => (allAcked = resolve));
      const cpu = process.cpuUsage();
      const started = performance.now();
      for (let i = 0; i < streams.length; i += SLICE) {
        if (i > 0) await new Promise<void>((resolve) => setImmediate(resolve));
        // A fresh buffer per stream, as each agent's config message is its own.
        for (const s of streams.slice(i, i + SLICE)) s.write(Buffer.from(payload));
      }
      await done;
      const used = process.cpuUsage(cpu);
      send({ type: "pushed", cpuMs: (used.user + used.system) / 1000, wallMs: performance.now() - started, messages: wanted });
    })();
  });
  process.on("disconnect", () => process.exit(1));
  send({ type: "ready", port, caPem: certificates.caBundle(), clientCertPem: client.certificatePem, clientKeyPem: client.privateKeyPem });
}

async function clientsChild(port: number, count: number, caPem: string, certPem: string, keyPem: string): Promise<void> {
  // Our CA's serving certificate names the controller, not 127.0.0.1: the chain is still verified.
  const credentials = grpc.credentials.createSsl(Buffer.from(caPem), Buffer.from(keyPem), Buffer.from(certPem), { checkServerIdentity: () => undefined });
  const clients: grpc.Client[] = [];
  for (let i = 0; i < count; i++) {
    // A connection per client, as each agent has its own (grpc-js would otherwise share one subchannel among equal channels).
    const client = new grpc.Client(`localhost:${port}`, credentials, { "grpc.enable_channelz": 0, "grpc.use_local_subchannel_pool": 1 });
    clients.push(client);
    const call = client.makeBidiStreamRequest(METHOD, identity, identity);
    call.on("data", () => call.write(ACK));
    call.on("error", () => undefined);
    // The first message opens the stream on the server.
    call.write(ACK);
    // A few handshakes at a time: the server's accept queue and CPU are shared with the other client process.
    if (i % 32 === 31) await new Promise((resolve) => setTimeout(resolve, 10));
  }
  process.on("disconnect", () => {
    for (const c of clients) c.close();
    process.exit(0);
  });
  process.send?.({ type: "ready" });
}

class ServerProcess {
  readonly #child: ChildProcess;
  readonly #waiting: Array<(m: FromServer) => void> = [];

  constructor() {
    this.#child = fork(fileURLToPath(import.meta.url), ["--push-floor-server"], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
    this.#child.on("message", (m: FromServer) => this.#waiting.shift()?.(m));
  }

  next(): Promise<FromServer> {
    return new Promise((resolve, reject) => {
      this.#waiting.push(resolve);
      this.#child.once("exit", (code) => reject(new Error(`push floor server exited with ${code}`)));
    });
  }

  async ask(m: ToServer): Promise<FromServer> {
    const reply = this.next();
    this.#child.send(m);
    return reply;
  }

  kill(): void {
    this.#child.kill();
  }
}

const cpuMicrosOf = async (server: ServerProcess): Promise<number> => {
  const reply = await server.ask({ type: "cpu" });
  if (reply.type !== "cpu") throw new Error("push floor: unexpected reply");
  return reply.micros;
};

export async function runPushFloorBenchmark(o: PushFloorOptions): Promise<{ cpuPerMessageMs: number; cpuPerConnectionMs: number }> {
  const server = new ServerProcess();
  const clients: ChildProcess[] = [];
  try {
    const ready = await server.next();
    if (ready.type !== "ready") throw new Error("push floor server: unexpected first message");
    const connectCpuFrom = await cpuMicrosOf(server);
    const perWorker = [Math.ceil(o.streams / 2), Math.floor(o.streams / 2)];
    for (const count of perWorker) {
      const child = fork(fileURLToPath(import.meta.url), ["--push-floor-clients", String(ready.port), String(count)], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
      clients.push(child);
      child.send({ caPem: ready.caPem, certPem: ready.clientCertPem, keyPem: ready.clientKeyPem });
      await new Promise<void>((resolve, reject) => {
        child.once("message", () => resolve());
        child.once("exit", (code) => reject(new Error(`push floor clients exited with ${code}`)));
      });
    }
    const deadline = Date.now() + 120_000;
    for (;;) {
      const count = await server.ask({ type: "count" });
      if (count.type === "count" && count.streams >= o.streams) break;
      if (Date.now() > deadline) throw new Error(`push floor: only ${count.type === "count" ? count.streams : "?"} of ${o.streams} streams opened in 120 s`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    // Every stream is open: what the server spent on the connections (its idle loop over those seconds is noise beside it).
    const cpuPerConnectionMs = ((await cpuMicrosOf(server)) - connectCpuFrom) / 1000 / o.streams;
    const results: Array<{ cpuMs: number; wallMs: number }> = [];
    for (let r = 0; r <= o.rounds; r++) {
      const pushed = await server.ask({ type: "push", bytes: o.bytes });
      if (pushed.type !== "pushed") throw new Error("push floor: unexpected reply");
      if (r > 0) results.push(pushed);
    }
    const best = results.reduce((a, b) => (b.cpuMs < a.cpuMs ? b : a));
    const scenario = `push floor, bare grpc-js, ${o.streams} mTLS streams`;
    const cpuPerMessageMs = best.cpuMs / o.streams;
    o.report(scenario, `floor: server CPU per ${o.bytes}-byte message + ACK, best of ${o.rounds}`, cpuPerMessageMs, "ms");
    o.report(scenario, "floor: wall time, first write to last ACK (same round)", best.wallMs, "ms");
    o.report(scenario, "floor: server CPU per connection (mTLS handshake, HTTP/2 session, one stream and its first message)", cpuPerConnectionMs, "ms");
    return { cpuPerMessageMs, cpuPerConnectionMs };
  } finally {
    for (const c of clients) c.kill();
    server.kill();
  }
}

if (process.argv[2] === "--push-floor-server") {
  await serverChild();
} else if (process.argv[2] === "--push-floor-clients") {
  const [port, count] = [Number(process.argv[3]), Number(process.argv[4])];
  const pems = await new Promise<{ caPem: string; certPem: string; keyPem: string }>((resolve) => process.once("message", resolve));
  await clientsChild(port, count, pems.caPem, pems.certPem, pems.keyPem);
}
