/**
 * One Connect stream (DESIGN.md §3 flow 4), from Hello to its end.
 *
 * The agent sends Hello first (what it holds from disk, so an unchanged
 * config is not resent). Controller messages are handled one at a time, in
 * order, so a CA bundle, a certificate and a config arriving back to back are
 * persisted in the order sent. A config's ACK/NACK is sent when the proxy
 * has (or has not) converged; waiting for that does not hold up later
 * messages, and a newer config supersedes an older one still waiting.
 * Health goes out every `healthIntervalMs` and whenever `healthChanged` fires.
 */
import * as grpc from "@grpc/grpc-js";
import { errorCode, errorMessage, MeshfedError } from "../common/errors.js";
import type { Logger } from "../common/logger.js";
import type { AgentMessage, ControllerMessage__Output, ProxyControlPlaneClient } from "../common/proto.js";
import type { Hello } from "../generated/proto/meshfed/v1/Hello.js";
import type { Health } from "../generated/proto/meshfed/v1/Health.js";
import type { ApplyResult } from "./config-applier.js";
import type { ConfigVersionData } from "./config-version.js";
import type { ServiceCertificateData } from "./data-dir.js";
import { classifyRpcError, type RpcFailure } from "./grpc-errors.js";
import { fromWireProbes, type HealthProbe } from "../common/health-probe.js";
import type { ConfigFile__Output } from "../generated/proto/meshfed/v1/ConfigFile.js";
import { FILE_CACHE_ERRORS, type FileCache } from "./file-cache.js";

export interface StreamHandlers {
  readonly caBundle: (pem: string) => Promise<void>;
  /** The controller asks for a CSR for a new proxy key (CA rotation); resolves with the CSR PEM. */
  readonly renewProxyCertificate: (reason: string) => Promise<string>;
  /** The renewed certificate (or a refusal); resolves true once it is stored and the stream should reconnect with it. */
  readonly proxyCertificate: (answer: ProxyCertificateAnswer) => Promise<boolean>;
  readonly serviceCertificate: (cert: ServiceCertificateData) => Promise<void>;
  readonly config: (config: ConfigVersionData) => Promise<ApplyResult>;
  /** A mesh name table for the agent's DNS (validated there); absent when the agent runs no DNS. */
  readonly meshNames?: (table: { hash: string; zones: string[]; records: Array<{ name: string; ipv4: string[] }> }) => Promise<void>;
  /** Health probes the controller declares for this proxy (hosts file), validated; absent: ignored. */
  readonly healthProbes?: (probes: HealthProbe[]) => Promise<void>;
}

export interface StreamSessionOptions {
  readonly client: ProxyControlPlaneClient;
  readonly hello: Hello;
  readonly handlers: StreamHandlers;
  readonly health: () => Health;
  /** Subscribes to "health worth reporting now" (proxy state changes). */
  readonly onHealthChange: (fn: () => void) => () => void;
  readonly healthIntervalMs: number;
  readonly logger: Logger;
  readonly signal: AbortSignal;
  /** Called once when the controller first answers (headers or a message). */
  readonly connected: () => void;
  /**
   * Shared files kept by hash (file-cache.ts); the Hello's file_cache must
   * say so. Absent: an agent that takes every file in full.
   */
  readonly files?: Pick<FileCache, "get" | "put">;
}

/** How long a planned stop waits for the controller to end the stream after the Goodbye; then the call is cancelled all the same. */
const GOODBYE_TIMEOUT_MS = 1_000;

export interface ProxyCertificateAnswer {
  readonly serial: string;
  readonly certificatePem: string;
  readonly caBundlePem: string;
  readonly notAfter: string;
  readonly errorCode: string;
  readonly error: string;
}

export type SessionEnd =
  /** The proxy certificate was renewed: reconnect with it now, without backoff. */
  | { readonly kind: "renewed"; readonly connectedMs: number }
  | { readonly kind: "shutdown"; readonly code: string; readonly reason: string; readonly permanent: boolean; readonly connectedMs: number }
  | { readonly kind: "ended"; readonly failure: RpcFailure | undefined; readonly connectedMs: number }
  | { readonly kind: "aborted"; readonly connectedMs: number };

export function runStreamSession(o: StreamSessionOptions): Promise<SessionEnd> {
  return new Promise((resolve) => {
    // Already stopping (the agent closed while the Hello was prepared): no call at all, so none is cancelled before its listeners exist.
    if (o.signal.aborted) return resolve({ kind: "aborted", connectedMs: 0 });
    const call = o.client.Connect();
    let connectedAt: number | undefined;
    let shutdown: Extract<SessionEnd, { kind: "shutdown" }> | undefined;
    let ended = false;
    // Set once a planned stop said Goodbye: nothing more is written or handled, whatever follows ends it as "aborted".
    let leaving = false;
    let goodbyeTimer: NodeJS.Timeout | undefined;
    let queue = Promise.resolve();
    const connectedMs = () => (connectedAt === undefined ? 0 : Date.now() - connectedAt);

    const write = (msg: AgentMessage): void => {
      if (ended || leaving) return;
      call.write(msg);
    };
    const markConnected = (): void => {
      if (connectedAt !== undefined || ended) return;
      connectedAt = Date.now();
      o.connected();
    };
    const sendHealth = (): void => write({ health: o.health() });
    const timer = setInterval(sendHealth, o.healthIntervalMs);
    timer.unref();
    const offHealth = o.onHealthChange(sendHealth);

    const finish = (end: SessionEnd): void => {
      if (ended) return;
      ended = true;
      clearInterval(timer);
      clearTimeout(goodbyeTimer);
      offHealth();
      o.signal.removeEventListener("abort", onAbort);
      call.cancel();
      resolve(end);
    };
    const aborted = (): void => finish({ kind: "aborted", connectedMs: connectedMs() });
    /**
     * A planned stop. Once the controller has answered, it is told so: it
     * withdraws this host's endpoints from its callers now, rather than after
     * its reconnect grace (a stream that just breaks keeps them for the grace,
     * because the agent keeps Pipy serving meanwhile; a stopping agent stops
     * Pipy after its drain delay, so callers must move away first). A
     * controller of an older version skips the message and keeps the grace.
     */
    const onAbort = (): void => {
      if (ended || leaving) return;
      if (connectedAt === undefined) return aborted();
      leaving = true;
      clearInterval(timer);
      call.write({ goodbye: { reason: "agent stopping" } });
      call.end();
      // The controller ends the stream on a Goodbye; one that does not (older, or gone) is not waited for long.
      goodbyeTimer = setTimeout(aborted, GOODBYE_TIMEOUT_MS);
      goodbyeTimer.unref();
    };
    if (o.signal.aborted) return onAbort();
    o.signal.addEventListener("abort", onAbort, { once: true });

    call.on("metadata", markConnected);
    call.on("data", (msg: ControllerMessage__Output) => {
      markConnected();
      // Handled strictly in arrival order; a failure ends the stream (the controller resends on reconnect).
      queue = queue.then(() => handle(msg)).catch((err: unknown) => {
        o.logger.error({ err: errorMessage(err), message: msg.message }, "handling a controller message failed; reconnecting");
        finish({ kind: "ended", failure: { permanent: false, code: "MESHFED_AGENT_HANDLER_FAILED", details: errorMessage(err), grpcCode: undefined }, connectedMs: connectedMs() });
      });
    });
    call.on("error", (err: grpc.ServiceError) => {
      if (leaving) return aborted();
      if (shutdown !== undefined) return finish(shutdown);
      finish({ kind: "ended", failure: classifyRpcError(err), connectedMs: connectedMs() });
    });
    call.on("end", () => {
      // The server closed its side; the status (error or OK) follows.
    });
    call.on("status", (status: grpc.StatusObject) => {
      if (leaving) return aborted();
      if (shutdown !== undefined) return finish(shutdown);
      if (status.code === grpc.status.OK) finish({ kind: "ended", failure: undefined, connectedMs: connectedMs() });
    });

    const handle = async (msg: ControllerMessage__Output): Promise<void> => {
      if (ended || leaving) return;
      switch (msg.message) {
        case "caBundle":
          if (msg.caBundle?.pem) await o.handlers.caBundle(msg.caBundle.pem);
          break;
        case "serviceCertificate": {
          const c = msg.serviceCertificate;
          if (!c || c.certificatePem === "" || c.privateKeyPem === "") {
            o.logger.warn("service certificate without certificate or key ignored");
            break;
          }
          await o.handlers.serviceCertificate({
            serial: c.serial, certificatePem: c.certificatePem, privateKeyPem: c.privateKeyPem,
            caBundlePem: c.caBundlePem, notAfter: c.notAfter, renewAt: c.renewAt,
          });
          break;
        }
        case "config": {
          const c = msg.config;
          if (!c) break;
          let files: ConfigVersionData["files"];
          try {
            files = await resolveFiles(c.files, o.files, o.logger);
          } catch (err) {
            const nack: AgentMessage = { ack: { version: c.version, hash: c.hash, ok: false, error: errorMessage(err) } };
            if (errorCode(err) !== FILE_CACHE_ERRORS.missing) {
              write(nack);
              break;
            }
            // A file it should hold is gone or corrupted: a new Hello lists what the cache really holds, and the
            // controller sends the rest in full. The stream ends once the NACK is on the wire, so the controller sees why.
            const end = () => finish({ kind: "ended", failure: { permanent: false, code: FILE_CACHE_ERRORS.missing, details: errorMessage(err), grpcCode: undefined }, connectedMs: connectedMs() });
            if (ended) break;
            call.write(nack, end);
            setTimeout(end, 1000).unref();
            break;
          }
          const config: ConfigVersionData = { version: c.version, driver: c.driver, hash: c.hash, files };
          // Not awaited: convergence may take seconds; later messages must not wait for it.
          void o.handlers.config(config).then(
            (r) => write({ ack: { version: r.version, hash: r.hash, ok: r.ok, error: r.error } }),
            (err: unknown) => write({ ack: { version: c.version, hash: c.hash, ok: false, error: `agent could not store the version: ${errorMessage(err)}` } }),
          );
          break;
        }
        case "renewProxyCertificate": {
          o.logger.info({ reason: msg.renewProxyCertificate?.reason ?? "" }, "controller asked for a new proxy certificate");
          const csrPem = await o.handlers.renewProxyCertificate(msg.renewProxyCertificate?.reason ?? "");
          write({ proxyCsr: { csrPem } });
          break;
        }
        case "proxyCertificate": {
          const c = msg.proxyCertificate;
          if (!c) break;
          const stored = await o.handlers.proxyCertificate({
            serial: c.serial, certificatePem: c.certificatePem, caBundlePem: c.caBundlePem, notAfter: c.notAfter, errorCode: c.errorCode, error: c.error,
          });
          if (stored) finish({ kind: "renewed", connectedMs: connectedMs() });
          break;
        }
        case "meshNames": {
          const m = msg.meshNames;
          if (m && o.handlers.meshNames) await o.handlers.meshNames({ hash: m.hash, zones: m.zones, records: m.records.map((r) => ({ name: r.name, ipv4: r.ipv4 })) });
          break;
        }
        case "healthProbes": {
          const { probes, rejected } = fromWireProbes(msg.healthProbes?.probes ?? []);
          if (rejected.length > 0) o.logger.warn({ code: "MESHFED_PROBE_INVALID", rejected }, "health probes from the controller include invalid ones; those are ignored");
          if (o.handlers.healthProbes) await o.handlers.healthProbes(probes);
          break;
        }
        case "shutdown": {
          const s = msg.shutdown;
          shutdown = { kind: "shutdown", code: s?.code || "MESHFED_SHUTDOWN", reason: s?.reason ?? "", permanent: s?.permanent === true, connectedMs: connectedMs() };
          o.logger.warn({ code: shutdown.code, reason: shutdown.reason, permanent: shutdown.permanent }, "controller asked the agent to disconnect");
          finish(shutdown);
          break;
        }
        default:
          o.logger.debug({ message: msg.message }, "unknown controller message ignored");
      }
    };

    write({ hello: o.hello });
  });
}

/**
 * The files of a config with references replaced by the cached bytes, and
 * shared files sent in full checked against their hash and cached. Done in
 * message order, so a later config's reference finds the file an earlier one
 * carried. A file that cannot be cached is still used; the next reference to
 * it then fails and the stream reconnects without it in the Hello.
 */
async function resolveFiles(files: readonly ConfigFile__Output[], cache: StreamSessionOptions["files"], log: Logger): Promise<ConfigVersionData["files"]> {
  const out: Array<ConfigVersionData["files"][number]> = [];
  for (const f of files) {
    if (f.byReference) {
      const content = await cache?.get(f.sha256);
      if (content === undefined) throw new MeshfedError(FILE_CACHE_ERRORS.missing, `${f.path}: the shared file ${f.sha256.slice(0, 80)} is not in the agent's cache`);
      out.push({ path: f.path, content });
      continue;
    }
    if (f.sha256 !== "" && cache !== undefined) {
      try {
        await cache.put(f.sha256, f.content);
      } catch (err) {
        if (errorCode(err) === FILE_CACHE_ERRORS.mismatch) throw err;
        log.warn({ path: f.path, err: errorMessage(err) }, "a shared file could not be kept on disk; it is used now and fetched in full again later");
      }
    }
    out.push({ path: f.path, content: f.content });
  }
  return out;
}
