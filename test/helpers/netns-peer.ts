// A child process run inside a network namespace by the data-plane tests and
// the bench (`ip netns exec NS node dist/test/helpers/netns-peer.js JSON`):
// the applications, unchanged and mesh-unaware. "serve" runs HTTP servers
// (answering their name and the x-meshfed-peer-identity they were given) and
// framed TCP servers; the other modes are clients that print one JSON line.
//
// The framed protocol is a small MySQL-like exchange: 4-byte big-endian
// length + payload; the server speaks first (a greeting naming itself), then
// answers each frame with "<name>:<payload>".
import { createServer as createHttpServer, get } from "node:http";
import { connect, createServer, type Socket } from "node:net";

type Mode =
  | { mode: "serve"; http?: { host: string; port: number; name: string }[]; framed?: { host: string; port: number; name: string }[] }
  | { mode: "http"; url: string; count: number; hostHeader?: string }
  | { mode: "framed"; host: string; port: number; roundTrips: number }
  | { mode: "split"; host: string; port: number; connections: number }
  | { mode: "wait-http"; url: string; timeoutMs: number };

const frame = (payload: string): Buffer => {
  const body = Buffer.from(payload, "utf8");
  const head = Buffer.alloc(4);
  head.writeUInt32BE(body.length);
  return Buffer.concat([head, body]);
};

/** Calls onFrame for every complete frame arriving on the socket. */
function frames(socket: Socket, onFrame: (payload: string) => void): void {
  let buf = Buffer.alloc(0);
  socket.on("data", (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    while (buf.length >= 4 && buf.length >= 4 + buf.readUInt32BE(0)) {
      const n = buf.readUInt32BE(0);
      onFrame(buf.subarray(4, 4 + n).toString("utf8"));
      buf = buf.subarray(4 + n);
    }
  });
}

function serve(m: Extract<Mode, { mode: "serve" }>): void {
  let pending = (m.http?.length ?? 0) + (m.framed?.length ?? 0);
  const up = () => { if (--pending === 0) process.stdout.write("listening\n"); };
  for (const s of m.http ?? []) {
    createHttpServer((req, res) => {
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ service: s.name, peer: req.headers["x-meshfed-peer-identity"] ?? null }));
    }).listen(s.port, s.host, up);
  }
  for (const s of m.framed ?? []) {
    createServer((socket) => {
      socket.on("error", () => socket.destroy());
      socket.write(frame(`hello from ${s.name}`));
      frames(socket, (p) => socket.write(frame(`${s.name}:${p}`)));
    }).listen(s.port, s.host, up);
  }
}

/** One framed connection: greeting, then `roundTrips` request/response pairs, each checked. */
function framedSession(host: string, port: number, roundTrips: number): Promise<{ name: string; latencies: number[] }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    const timer = setTimeout(() => socket.destroy(new Error("framed session timed out")), 60_000);
    let name = "";
    let i = 0;
    let sent = 0n;
    const latencies: number[] = [];
    const next = () => {
      if (i === roundTrips) {
        clearTimeout(timer);
        socket.end();
        resolve({ name, latencies });
        return;
      }
      sent = process.hrtime.bigint();
      socket.write(frame(`q${i}`));
    };
    frames(socket, (p) => {
      if (name === "") {
        if (!p.startsWith("hello from ")) return socket.destroy(new Error(`bad greeting ${p}`));
        name = p.slice("hello from ".length);
        return next();
      }
      if (p !== `${name}:q${i}`) return socket.destroy(new Error(`round trip ${i}: got ${p}`));
      latencies.push(Number(process.hrtime.bigint() - sent) / 1e6);
      i++;
      next();
    });
    socket.on("error", (e) => { clearTimeout(timer); reject(e); });
    socket.on("close", () => { if (i < roundTrips) { clearTimeout(timer); reject(new Error(`closed after ${i} round trips (${name || "no greeting"})`)); } });
  });
}

function httpGet(url: string, hostHeader?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = get(url, { timeout: 10_000, ...(hostHeader ? { headers: { host: hostHeader } } : {}) }, (res) => {
      let body = "";
      res.setEncoding("utf8").on("data", (d: string) => (body += d)).on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
  });
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? 0 : s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};

async function main(m: Mode): Promise<unknown> {
  switch (m.mode) {
    case "serve":
      serve(m);
      return undefined;
    case "wait-http": {
      const deadline = Date.now() + m.timeoutMs;
      for (;;) {
        const r = await httpGet(m.url).catch(() => ({ status: 0, body: "" }));
        if (r.status === 200) return { ok: true };
        if (Date.now() > deadline) return { ok: false, status: r.status };
        await new Promise((res) => setTimeout(res, 100));
      }
    }
    case "http": {
      const statuses: Record<string, number> = {};
      const bodies: Record<string, number> = {};
      const latencies: number[] = [];
      const started = Date.now();
      for (let i = 0; i < m.count; i++) {
        const t0 = process.hrtime.bigint();
        const r = await httpGet(m.url, m.hostHeader).catch((e: Error) => ({ status: 0, body: `error: ${e.message}` }));
        latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
        statuses[r.status] = (statuses[r.status] ?? 0) + 1;
        bodies[r.body] = (bodies[r.body] ?? 0) + 1;
      }
      const ms = Date.now() - started;
      return { statuses, bodies, ms, perSecond: (m.count * 1000) / Math.max(ms, 1), p99: pct(latencies, 99) };
    }
    case "framed": {
      const started = Date.now();
      const r = await framedSession(m.host, m.port, m.roundTrips).catch((e: Error) => ({ error: e.message }));
      if ("error" in r) return r;
      const ms = Date.now() - started;
      return { name: r.name, roundTrips: r.latencies.length, ms, perSecond: (r.latencies.length * 1000) / Math.max(ms, 1), p50: pct(r.latencies, 50), p99: pct(r.latencies, 99) };
    }
    case "split": {
      const counts: Record<string, number> = {};
      const errors: string[] = [];
      for (let i = 0; i < m.connections; i++) {
        const r = await framedSession(m.host, m.port, 1).catch((e: Error) => ({ error: e.message }));
        if ("error" in r) errors.push(r.error);
        else counts[r.name] = (counts[r.name] ?? 0) + 1;
      }
      return { counts, errors: errors.slice(0, 5), failed: errors.length };
    }
  }
}

const mode = JSON.parse(process.argv[2] ?? "{}") as Mode;
main(mode).then(
  (out) => { if (out !== undefined) process.stdout.write(`${JSON.stringify(out)}\n`); },
  (err: Error) => { process.stdout.write(`${JSON.stringify({ error: err.message })}\n`); process.exitCode = 1; },
);
