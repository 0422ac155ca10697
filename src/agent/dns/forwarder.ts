/**
 * Forwards one raw DNS query to the host's resolvers and returns their raw
 * answer: the bytes are relayed, never re-encoded, so whatever the upstream
 * says (EDNS, DNSSEC records, truncation) reaches the client unchanged.
 *
 * UDP queries go out over UDP, each from its own socket (a fresh random
 * source port per query, so answers cannot be spoofed by guessing a shared
 * port); a truncated UDP answer is relayed as is and the client retries over
 * TCP, which goes out over TCP. Upstreams are tried in order, each with the
 * timeout; when all fail the caller answers SERVFAIL.
 *
 * Bounded: at most `maxInFlight` forwards at once; beyond that a query is
 * dropped and counted (a flood costs a counter, not memory).
 */
import { createSocket } from "node:dgram";
import { connect, isIPv6 } from "node:net";
import type { Upstream } from "./upstreams.js";

export interface ForwarderOptions {
  readonly upstreams: () => readonly Upstream[];
  readonly timeoutMs: number;
  readonly maxInFlight: number;
}

export type ForwardResult = { readonly ok: true; readonly answer: Buffer } | { readonly ok: false; readonly reason: "limit" | "no-upstream" | "failed" };

const MAX_TCP_MESSAGE = 65_535;

export class Forwarder {
  readonly #o: ForwarderOptions;
  #inFlight = 0;

  constructor(options: ForwarderOptions) {
    this.#o = options;
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  async forward(query: Buffer, transport: "udp" | "tcp"): Promise<ForwardResult> {
    if (this.#inFlight >= this.#o.maxInFlight) return { ok: false, reason: "limit" };
    const upstreams = this.#o.upstreams();
    if (upstreams.length === 0) return { ok: false, reason: "no-upstream" };
    this.#inFlight += 1;
    try {
      for (const upstream of upstreams) {
        const answer = await (transport === "udp" ? udpExchange : tcpExchange)(query, upstream, this.#o.timeoutMs).catch(() => undefined);
        if (answer !== undefined && answer.length >= 12 && answer.readUInt16BE(0) === query.readUInt16BE(0)) return { ok: true, answer };
      }
      return { ok: false, reason: "failed" };
    } finally {
      this.#inFlight -= 1;
    }
  }
}

function udpExchange(query: Buffer, upstream: Upstream, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = createSocket(isIPv6(upstream.host) ? "udp6" : "udp4");
    const done = (err: Error | undefined, answer?: Buffer) => {
      clearTimeout(timer);
      socket.close();
      if (err) reject(err);
      else resolve(answer!);
    };
    const timer = setTimeout(() => done(new Error("timeout")), timeoutMs);
    socket.on("error", (err) => done(err));
    socket.on("message", (msg, rinfo) => {
      // Only the upstream asked, with our query's id: anything else is ignored, not taken as the answer.
      if (rinfo.address !== upstream.host || rinfo.port !== upstream.port || msg.length < 2 || msg.readUInt16BE(0) !== query.readUInt16BE(0)) return;
      done(undefined, msg);
    });
    socket.send(query, upstream.port, upstream.host, (err) => {
      if (err) done(err);
    });
  });
}

function tcpExchange(query: Buffer, upstream: Upstream, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: upstream.host, port: upstream.port });
    let buffered = Buffer.alloc(0);
    const done = (err: Error | undefined, answer?: Buffer) => {
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve(answer!);
    };
    const timer = setTimeout(() => done(new Error("timeout")), timeoutMs);
    socket.on("error", (err) => done(err));
    socket.on("connect", () => {
      const length = Buffer.alloc(2);
      length.writeUInt16BE(query.length);
      socket.write(Buffer.concat([length, query]));
    });
    socket.on("data", (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      if (buffered.length < 2) return;
      const size = buffered.readUInt16BE(0);
      if (size > MAX_TCP_MESSAGE) return done(new Error("oversized answer"));
      if (buffered.length >= 2 + size) done(undefined, buffered.subarray(2, 2 + size));
    });
    socket.on("end", () => done(new Error("closed before a whole answer")));
  });
}
