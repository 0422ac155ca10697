/**
 * Child process of the agents benchmark: a share of the simulated agents.
 * Each one is what a real agent does on the wire, minus disk and Pipy: its
 * own P-256 key and CSR, Enroll with a join token, then one mTLS Connect
 * stream on its own channel (one socket), Hello with its announced host
 * address and one endpoint, and an ACK (version + hash, ok) for every config
 * as soon as it arrives. Key, CSR, Enroll and TLS settings are the agent's
 * own code (src/agent); only the session loop is this small one. Keys and
 * CSRs are made on "prepare", before the parent times enrollment, so that the
 * enrollment phase measures the Enroll round trips and not this process's
 * key generation (one key per agent all the same). Like the
 * agent, it keeps shared files by hash (only the hashes: nothing is served
 * here) and lists them in Hello, unless told to act as an agent of the
 * previous version (`fileCache: false`, full files every time).
 */
import { createHash } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import { CODEBASE } from "../src/controller/drivers/pipy/codebase/index.js";
import { callEnroll } from "../src/agent/enroll.js";
import { buildCsr, generateProxyKey } from "../src/agent/proxy-key.js";
import { channelOptions, mutualCredentials } from "../src/agent/tls.js";
import { loadProto, type ControllerMessage__Output, type ProxyControlPlaneClient } from "../src/common/proto.js";
import { serve, type AgentSpec, type Collected, type WorkerRequest, type WorkerStatus } from "./agents-ipc.js";

interface SimAgent {
  readonly spec: AgentSpec;
  keyPem?: string;
  certPem?: string;
  proxyId?: string;
  client?: ProxyControlPlaneClient;
  call?: grpc.ClientDuplexStream<unknown, ControllerMessage__Output>;
  configs: number;
  hitAt?: number;
  sinceMark: number;
  /** sha256 of the shared files it holds (strings interned per worker). */
  readonly held: Set<string>;
}

/** The controller replicas' gRPC addresses; each agent uses the one its spec names. */
let addresses: readonly string[] = [];
let caPem = "";
let fileCache = true;
/** Hashes every agent holds before its first connect ("seeded"): the Pipy codebase's. */
let seeded: string[] = [];
/** One string per distinct hash, shared by every agent's set. */
const interned = new Map<string, string>();
let agents: SimAgent[] = [];
/** Made by "prepare": one key and CSR per agent this worker will hold, used once each. */
const prepared: Array<{ readonly keyPem: string; readonly csrPem: string }> = [];
let lastConfigAt = 0;
let marker: string | undefined;
let stopping = false;
const failures: string[] = [];

function fail(agent: SimAgent, what: string, err: unknown): void {
  if (stopping) return;
  const e = err as Partial<grpc.ServiceError>;
  const code = e.metadata?.get("meshfed-code")[0];
  failures.push(`agent ${agent.spec.index} (${agent.spec.service}): ${what}: ${code ? `${String(code)} ` : ""}${e.details ?? e.message ?? String(err)}`);
}

/** Runs `fn` over `items` with at most `limit` in flight. */
async function bounded<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length && !stopping) await fn(items[next++]!);
  });
  await Promise.all(lanes);
}

function addressOf(agent: SimAgent): string {
  const address = addresses[agent.spec.replica];
  if (address === undefined) throw new Error(`agent ${agent.spec.index} names replica ${agent.spec.replica}, but only ${addresses.length} addresses were given`);
  return address;
}

async function makeKey(): Promise<{ keyPem: string; csrPem: string }> {
  const { keys, pem } = await generateProxyKey();
  return { keyPem: pem, csrPem: await buildCsr(keys) };
}

async function prepare(count: number): Promise<void> {
  const made = await Promise.all(Array.from({ length: count }, () => makeKey()));
  prepared.push(...made);
}

async function enrollOne(agent: SimAgent): Promise<void> {
  try {
    // Made beforehand ("prepare"); a worker asked to enrol more agents than it prepared makes the rest here.
    const { keyPem, csrPem } = prepared.pop() ?? (await makeKey());
    const res = await callEnroll({
      address: addressOf(agent), caPem, token: agent.spec.token, csrPem, agentVersion: "bench", hostname: `bench-${agent.spec.index}`,
      timeoutMs: 60_000, signal: new AbortController().signal,
    });
    agent.keyPem = keyPem;
    agent.certPem = res.certificatePem;
    agent.proxyId = res.proxyId;
  } catch (err) {
    fail(agent, "Enroll", err);
  }
}

let retries = 0;
const MAX_ATTEMPTS = 6;

/**
 * Connects like the agent does: a transport failure before the first config
 * (UNAVAILABLE, e.g. a reset while thousands of handshakes queue at the
 * listener) is retried with full-jitter backoff; a refusal is not.
 */
async function connectOne(agent: SimAgent): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const err = await connectAttempt(agent);
    if (err === undefined || stopping) return;
    if (err.code !== grpc.status.UNAVAILABLE || attempt >= MAX_ATTEMPTS) return fail(agent, `Connect (attempt ${attempt})`, err);
    retries += 1;
    agent.call?.cancel();
    agent.client?.close();
    await new Promise((resolve) => setTimeout(resolve, Math.random() * 500 * 2 ** attempt));
  }
}

/** Opens the stream; resolves once the first config arrived (undefined) or with the error that ended it first. */
function connectAttempt(agent: SimAgent): Promise<grpc.ServiceError | undefined> {
  if (agent.certPem === undefined || agent.keyPem === undefined) return Promise.resolve(undefined);
  const { meshfed } = loadProto();
  const address = addressOf(agent);
  const client = new meshfed.v1.ProxyControlPlane(address, mutualCredentials(caPem, agent.keyPem, agent.certPem), channelOptions(address));
  const call = client.Connect() as unknown as grpc.ClientDuplexStream<unknown, ControllerMessage__Output>;
  agent.client = client;
  agent.call = call;
  let first = true;
  return new Promise<grpc.ServiceError | undefined>((resolve) => {
    call.on("data", (m: ControllerMessage__Output) => {
      if (agent.call !== call) return;
      if (m.message === "shutdown") fail(agent, "Shutdown", new Error(`${m.shutdown?.code ?? ""} ${m.shutdown?.reason ?? ""}`));
      if (m.message !== "config" || !m.config) return;
      const { version, hash } = m.config;
      for (const f of m.config.files) {
        if (f.byReference && !agent.held.has(f.sha256)) fail(agent, "config", new Error(`${f.path} sent by reference (${f.sha256}) but this agent never received it`));
        if (!f.byReference && f.sha256 !== "") {
          const sha = interned.get(f.sha256) ?? f.sha256;
          interned.set(sha, sha);
          agent.held.add(sha);
        }
      }
      call.write({ ack: { version, hash, ok: true, error: "" } });
      const now = Date.now();
      lastConfigAt = now;
      agent.configs += 1;
      if (marker !== undefined) {
        agent.sinceMark += 1;
        // f.content is already a Buffer (bytes decode to Buffer): searched in place, not copied per file and agent.
        if (agent.hitAt === undefined && m.config.files.some((f) => f.content.includes(marker!))) agent.hitAt = now;
      }
      first = false;
      resolve(undefined);
    });
    call.on("error", (err: grpc.ServiceError) => {
      if (agent.call !== call) return resolve(undefined); // dropped on purpose
      // Before the first config the caller decides (retry or fail); afterwards a lost stream is a failure.
      if (first) resolve(err);
      else fail(agent, "Connect", err);
    });
    call.on("end", () => resolve(undefined));
    call.write({
      hello: {
        proxyId: agent.proxyId, hostAddresses: [agent.spec.host], endpoints: [{ ip: agent.spec.host, port: agent.spec.port }],
        agentVersion: "bench", proxyVersion: "", configVersion: 0, configHash: "",
        ...(fileCache ? { fileCache: { supported: true, sha256: [...agent.held] } } : {}),
      },
    });
  });
}

function status(): WorkerStatus {
  return {
    prepared: prepared.length,
    enrolled: agents.filter((a) => a.certPem !== undefined).length,
    connected: agents.filter((a) => a.configs > 0).length,
    configs: agents.reduce((n, a) => n + a.configs, 0),
    lastConfigAt,
    hits: agents.filter((a) => a.hitAt !== undefined).length,
    retries,
    failures: failures.slice(0, 20),
    cpuMicros: (({ user, system }) => user + system)(process.cpuUsage()),
  };
}

serve<WorkerRequest>(async (r) => {
  switch (r.type) {
    case "prepare":
      await prepare(r.count);
      return status();
    case "enroll":
      addresses = r.addresses;
      caPem = r.caPem;
      fileCache = r.fileCache !== "off";
      seeded = r.fileCache === "seeded" ? CODEBASE.map((m) => createHash("sha256").update(m.source, "utf8").digest("hex")) : [];
      agents = r.agents.map((spec) => ({ spec, configs: 0, sinceMark: 0, held: new Set<string>(seeded) }));
      await bounded(agents, r.concurrency, enrollOne);
      return status();
    case "connect":
      // Answered at once: the parent polls "status" while the streams come up.
      void bounded(agents, r.concurrency, connectOne);
      return status();
    case "reconnect":
      for (const a of agents) {
        const { call, client } = a;
        // Forgotten first: the cancellation's error is then not this agent's current stream's.
        a.call = undefined;
        a.client = undefined;
        a.configs = 0;
        call?.cancel();
        client?.close();
      }
      void bounded(agents, r.concurrency, connectOne);
      return status();
    case "status":
      return status();
    case "mark":
      marker = r.marker;
      for (const a of agents) {
        a.hitAt = undefined;
        a.sinceMark = 0;
      }
      return {};
    case "collect": {
      const out: Collected = {
        hits: agents.filter((a) => a.hitAt !== undefined).map((a) => ({ index: a.spec.index, at: a.hitAt! })),
        received: agents.filter((a) => a.sinceMark > 0).map((a) => a.spec.index),
        configsSinceMark: agents.reduce((n, a) => n + a.sinceMark, 0),
      };
      return out;
    }
    case "stop":
      stopping = true;
      for (const a of agents) {
        a.call?.cancel();
        a.client?.close();
      }
      setImmediate(() => process.exit(0));
      return {};
  }
});
process.on("disconnect", () => process.exit(1));
