/**
 * The injector's HTTPS endpoint for the API server's admission calls. The
 * serving certificate comes from the mesh CA with the webhook Service's DNS
 * names (certificate manager `webhookCertificate`); it is renewed at its
 * renewAt without a restart (setSecureContext), and the caBundle the API
 * server trusts is the CA, which does not change on renewal. A CA rotation
 * rewrites that caBundle first, then calls renewNow (index.ts).
 *
 * Every malformed call gets an answer, never a crash: a review whose
 * request.uid is readable gets HTTP 200 with allowed:false and the reason (the
 * API server shows it to whoever created the pod); anything else gets HTTP
 * 400 with a JSON body naming the problem.
 */
import { createServer, type Server } from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "pino";
import { formatHostPort, type HostPort } from "../../common/address.js";
import { errorCode, errorMessage, MeshfedError } from "../../common/errors.js";
import type { CertificateWithKey } from "../certificates/types.js";
import { deny, parseAdmissionReview, type AdmissionRequest, type AdmissionReviewResponse } from "./admission-review.js";
import { INJECTOR_ERROR } from "./errors.js";

/** The API server caps admission bodies near 3 MiB; a larger one is not from it. */
const MAX_BODY = 4 * 1024 * 1024;
const RETRY_MS = 60_000;

export interface WebhookServerOptions {
  readonly listen: HostPort;
  readonly path: string;
  /** Returns the current serving certificate (reused until its renewAt). */
  readonly certificate: () => Promise<CertificateWithKey>;
  readonly admit: (request: AdmissionRequest) => Promise<AdmissionReviewResponse>;
  readonly logger: Logger;
}

export class WebhookServer {
  readonly #o: WebhookServerOptions;
  readonly #log: Logger;
  readonly #server: Server;
  #timer: NodeJS.Timeout | undefined;
  #closing: Promise<void> | undefined;

  private constructor(options: WebhookServerOptions, server: Server, log: Logger) {
    this.#o = options;
    this.#server = server;
    this.#log = log;
  }

  static async listen(options: WebhookServerOptions): Promise<WebhookServer> {
    const log = options.logger.child({ component: "injector-webhook" });
    const first = await options.certificate();
    const server = createServer({ cert: first.certificatePem, key: first.privateKeyPem, minVersion: "TLSv1.2", requestTimeout: 30_000, headersTimeout: 10_000 });
    const webhook = new WebhookServer(options, server, log);
    server.on("request", (req: IncomingMessage, res: ServerResponse) => void webhook.#handle(req, res));
    server.on("tlsClientError", (err: Error) => log.debug({ err: err.message }, "TLS handshake refused"));
    await new Promise<void>((resolve, reject) => {
      server.once("error", (err) => reject(new MeshfedError(INJECTOR_ERROR.bind, `cannot listen for admission reviews on ${formatHostPort(options.listen)}: ${err.message}`, { cause: err })));
      server.listen(options.listen.port, options.listen.host, () => {
        server.removeAllListeners("error");
        server.on("error", (err) => log.error({ err }, "webhook server error"));
        resolve();
      });
    });
    webhook.#schedule(first.renewAt);
    log.info({ address: formatHostPort({ host: options.listen.host, port: webhook.port }), path: options.path }, "sidecar injector webhook (HTTPS) listening");
    return webhook;
  }

  get port(): number {
    const a = this.#server.address();
    return a !== null && typeof a !== "string" ? a.port : 0;
  }

  #schedule(renewAt: Date): void {
    if (this.#closing) return;
    const delay = Math.max(RETRY_MS, renewAt.getTime() - Date.now());
    this.#timer = setTimeout(() => void this.#renew(), Math.min(delay, 2 ** 31 - 1));
    this.#timer.unref();
  }

  /** Fetches the serving certificate again now (a CA rotation re-issued it under the new root). */
  renewNow(): Promise<void> {
    clearTimeout(this.#timer);
    return this.#renew();
  }

  async #renew(): Promise<void> {
    if (this.#closing) return;
    try {
      const cert = await this.#o.certificate();
      this.#server.setSecureContext({ cert: cert.certificatePem, key: cert.privateKeyPem });
      this.#log.info({ serial: cert.serial }, "webhook serving certificate renewed");
      this.#schedule(cert.renewAt);
    } catch (err) {
      this.#log.error({ err, code: errorCode(err) }, "renewing the webhook serving certificate failed; retrying");
      this.#schedule(new Date(0));
    }
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? "/").split("?")[0];
    if (path !== this.#o.path) return problem(res, 404, "MESHFED_ADMISSION_NOT_FOUND", `no webhook at ${String(path).slice(0, 200)}; admission reviews go to ${this.#o.path}`);
    if (req.method !== "POST") return problem(res, 405, "MESHFED_ADMISSION_METHOD", `${req.method ?? "?"} is not allowed; POST an AdmissionReview`);
    let body: string;
    try {
      body = await readBody(req, MAX_BODY);
    } catch (err) {
      res.setHeader("connection", "close");
      return problem(res, 413, "MESHFED_ADMISSION_TOO_LARGE", errorMessage(err));
    }
    const parsed = parseAdmissionReview(body);
    if (!parsed.ok) {
      this.#log.warn({ code: "MESHFED_ADMISSION_INVALID", reason: parsed.message, peer: req.socket.remoteAddress }, "malformed admission review");
      if (parsed.uid === undefined) return problem(res, 400, "MESHFED_ADMISSION_INVALID", parsed.message);
      return json(res, 200, deny(parsed.uid, parsed.message));
    }
    try {
      return json(res, 200, await this.#o.admit(parsed.request));
    } catch (err) {
      // admit() answers its own failures; this is a bug, still answered as a denial.
      this.#log.error({ err, code: errorCode(err), uid: parsed.request.uid }, "admission failed unexpectedly");
      return json(res, 200, deny(parsed.request.uid, `meshfed injector error: ${errorMessage(err)}`, 500));
    }
  }

  /** Stops accepting; in-flight reviews finish (bounded by graceMs). Idempotent. */
  close(graceMs = 2_000): Promise<void> {
    this.#closing ??= new Promise<void>((resolve) => {
      clearTimeout(this.#timer);
      this.#server.close(() => resolve());
      this.#server.closeIdleConnections();
      setTimeout(() => this.#server.closeAllConnections(), graceMs).unref();
    });
    return this.#closing;
  }

  destroy(): void {
    clearTimeout(this.#timer);
    this.#server.close();
    this.#server.closeAllConnections();
  }
}

function readBody(req: IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        // Keep draining (not destroying) so the 413 reaches the caller; the connection closes after it.
        chunks.length = 0;
        reject(new Error(`the body exceeds ${limit} bytes`));
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const data = Buffer.from(JSON.stringify(body));
  res.writeHead(status, { "content-type": "application/json", "content-length": String(data.length) });
  res.end(data);
}

function problem(res: ServerResponse, status: number, code: string, message: string): void {
  if (res.headersSent || res.destroyed) return;
  json(res, status, { error: { code, message } });
}
