// A child process run inside a network namespace by the Egress and
// IngressBackend real-Pipy tests (`ip netns exec NS node egress-peer.js JSON`):
// unchanged applications. "serve" runs HTTP servers (answering their name,
// the Host they were asked for and the x-meshfed-peer-identity they got),
// TLS servers and TCP servers that greet first; the client modes print one
// JSON line each.
import { createServer as createHttpServer, request } from "node:http";
import { request as httpsRequest } from "node:https";
import { connect, createServer } from "node:net";
import { readFileSync } from "node:fs";
import { connect as tlsConnect, createServer as createTlsServer } from "node:tls";

interface Endpoint { host: string; port: number; name: string }
type Mode =
  | { mode: "serve"; http?: Endpoint[]; tls?: (Endpoint & { cert: string; key: string })[]; tcp?: Endpoint[] }
  | { mode: "http"; url: string; host?: string; localAddress?: string; headers?: Record<string, string>; tls?: { cert: string; key: string; ca: string; servername: string }; insecure?: boolean }
  | { mode: "tls"; host: string; port: number; servername: string }
  | { mode: "tcp"; host: string; port: number };

function serve(m: Extract<Mode, { mode: "serve" }>): void {
  let pending = (m.http?.length ?? 0) + (m.tls?.length ?? 0) + (m.tcp?.length ?? 0);
  const up = () => { if (--pending === 0) process.stdout.write("listening\n"); };
  for (const s of m.http ?? []) {
    createHttpServer((req, res) => {
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ service: s.name, host: req.headers.host ?? null, path: req.url, peer: req.headers["x-meshfed-peer-identity"] ?? null }));
    }).listen(s.port, s.host, up);
  }
  // Greets with its name and the SNI it was asked for, after the handshake.
  for (const s of m.tls ?? []) {
    createTlsServer({ cert: readFileSync(s.cert), key: readFileSync(s.key) }, (socket) => {
      socket.on("error", () => socket.destroy());
      socket.end(`${s.name} ${(socket as unknown as { servername?: string }).servername ?? ""}\n`);
    }).listen(s.port, s.host, up);
  }
  for (const s of m.tcp ?? []) {
    createServer((socket) => {
      socket.on("error", () => socket.destroy());
      socket.end(`${s.name}\n`);
    }).listen(s.port, s.host, up);
  }
}

/** One request; status 0 and the error when the connection fails (refused, reset). */
function httpGet(m: Extract<Mode, { mode: "http" }>): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const headers = { ...(m.headers ?? {}), ...(m.host ? { host: m.host } : {}) };
    const options = { timeout: 10_000, headers, ...(m.localAddress ? { localAddress: m.localAddress } : {}), agent: false as const };
    const done = (res: import("node:http").IncomingMessage) => {
      let body = "";
      res.setEncoding("utf8").on("data", (d: string) => (body += d)).on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    };
    const req = m.tls
      ? httpsRequest(m.url, { ...options, cert: readFileSync(m.tls.cert), key: readFileSync(m.tls.key), ca: readFileSync(m.tls.ca), servername: m.tls.servername, checkServerIdentity: () => undefined }, done)
      : m.insecure
        ? httpsRequest(m.url, { ...options, rejectUnauthorized: false }, done)
        : request(m.url, options, done);
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", (e) => resolve({ status: 0, body: `error: ${e.message}` }));
    req.end();
  });
}

/** Reads everything a server sends until it closes; `error` when the connection fails first. */
function readAll(socket: import("node:net").Socket): Promise<{ text: string; error?: string }> {
  return new Promise((resolve) => {
    let text = "";
    const timer = setTimeout(() => socket.destroy(new Error("timeout")), 10_000);
    socket.setEncoding("utf8").on("data", (d: string) => (text += d));
    socket.on("error", (e) => { clearTimeout(timer); resolve({ text, error: e.message }); });
    socket.on("close", () => { clearTimeout(timer); resolve({ text }); });
  });
}

async function main(m: Mode): Promise<unknown> {
  switch (m.mode) {
    case "serve":
      serve(m);
      return undefined;
    case "http":
      return httpGet(m);
    case "tls":
      // The test's server certificate is not for these names: the client checks the SNI round trip, not trust.
      return readAll(tlsConnect({ host: m.host, port: m.port, servername: m.servername, rejectUnauthorized: false }));
    case "tcp":
      return readAll(connect({ host: m.host, port: m.port }));
  }
}

const mode = JSON.parse(process.argv[2] ?? "{}") as Mode;
main(mode).then(
  (out) => { if (out !== undefined) process.stdout.write(`${JSON.stringify(out)}\n`); },
  (err: Error) => { process.stdout.write(`${JSON.stringify({ error: err.message })}\n`); process.exitCode = 1; },
);
