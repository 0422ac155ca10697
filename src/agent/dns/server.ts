/**
 * The agent's DNS server (docs/dataplane.md "Mesh names"): UDP and TCP on
 * one loopback address. Mesh names are answered from the name table (A: the
 * VIP; AAAA and other types: an empty NOERROR, so resolvers do not wait for
 * an IPv6 answer that never comes; a name under a mesh zone that is not in
 * the table: NXDOMAIN). Everything else goes to the host's resolvers through
 * the Forwarder. Wire format: the dns-packet library; never hand-written.
 *
 * Bounded: forwards are capped by the Forwarder, TCP connections by
 * `maxTcpConnections` (each idle-timed and limited to one query at a time),
 * and every drop is counted under a name in `stats()`.
 */
import { createSocket, type Socket } from "node:dgram";
import { once } from "node:events";
import { createServer, isIPv6, type Server, type Socket as TcpSocket } from "node:net";
import dnsPacket, { type Answer, type DecodedPacket, type Question } from "dns-packet";
import type { HostPort } from "../../common/address.js";
import { MeshfedError } from "../../common/errors.js";
import type { Logger } from "../../common/logger.js";
import type { Forwarder } from "./forwarder.js";
import type { NameLookup } from "./name-table.js";

const RCODE = { NOERROR: 0, SERVFAIL: 2, NXDOMAIN: 3 } as const;
const MAX_TCP_MESSAGE = 65_535;
/** Tries for a free port for both UDP and TCP when the listen port is 0. */
const BIND_ATTEMPTS = 10;

export interface DnsServerOptions {
  readonly listen: HostPort;
  readonly names: () => NameLookup;
  readonly forwarder: Forwarder;
  readonly logger: Logger;
  /** TTL of mesh answers: short, so a VIP change reaches applications soon. */
  readonly ttlSeconds?: number;
  readonly maxTcpConnections?: number;
  readonly tcpIdleMs?: number;
}

export interface DnsStats {
  queries: number;
  meshAnswers: number;
  nxdomain: number;
  forwarded: number;
  forwardFailures: number;
  dropped: { forwardLimit: number; tcpConnections: number; malformed: number };
}

export class DnsServer {
  readonly #o: DnsServerOptions;
  readonly #log: Logger;
  readonly #stats: DnsStats = { queries: 0, meshAnswers: 0, nxdomain: 0, forwarded: 0, forwardFailures: 0, dropped: { forwardLimit: 0, tcpConnections: 0, malformed: 0 } };
  #udp: Socket | undefined;
  #tcp: Server | undefined;
  readonly #connections = new Set<TcpSocket>();
  #port = 0;

  constructor(options: DnsServerOptions) {
    this.#o = options;
    this.#log = options.logger.child({ component: "dns" });
  }

  get port(): number {
    return this.#port;
  }

  stats(): DnsStats {
    return { ...this.#stats, dropped: { ...this.#stats.dropped } };
  }

  /**
   * Binds UDP first (port 0 picks one), then TCP on the same port. With port 0
   * the TCP port may already be taken by another process (UDP and TCP ports
   * are separate spaces): then both are let go and another port is tried.
   */
  async start(): Promise<void> {
    const { host, port } = this.#o.listen;
    for (let attempt = 1; ; attempt++) {
      const udp = await this.#bindUdp(host, port);
      const bound = udp.address().port;
      const tcp = createServer((socket) => this.#onTcp(socket));
      try {
        tcp.listen(bound, host);
        await Promise.race([once(tcp, "listening"), once(tcp, "error").then(([err]) => Promise.reject(err as Error))]);
      } catch (err) {
        udp.close();
        if (port === 0 && (err as NodeJS.ErrnoException).code === "EADDRINUSE" && attempt < BIND_ATTEMPTS) continue;
        throw new MeshfedError("MESHFED_DNS_BIND", `cannot listen for DNS on ${host}:${bound} (tcp): ${(err as Error).message}`, { cause: err });
      }
      udp.on("error", (err) => this.#log.error({ err, code: "MESHFED_DNS_SOCKET" }, "DNS UDP socket error"));
      this.#udp = udp;
      this.#tcp = tcp;
      this.#port = bound;
      this.#log.info({ address: `${host}:${this.#port}` }, "DNS listening (udp, tcp)");
      return;
    }
  }

  async #bindUdp(host: string, port: number): Promise<Socket> {
    const udp = createSocket(isIPv6(host) ? "udp6" : "udp4");
    udp.on("message", (msg, rinfo) => void this.#onUdp(udp, msg, rinfo.address, rinfo.port));
    try {
      udp.bind(port, host);
      await Promise.race([once(udp, "listening"), once(udp, "error").then(([err]) => Promise.reject(err as Error))]);
      return udp;
    } catch (err) {
      udp.close();
      throw new MeshfedError("MESHFED_DNS_BIND", `cannot listen for DNS on ${host}:${port} (udp): ${(err as Error).message}`, { cause: err });
    }
  }

  async close(): Promise<void> {
    const udp = this.#udp;
    const tcp = this.#tcp;
    this.#udp = undefined;
    this.#tcp = undefined;
    udp?.close();
    for (const c of this.#connections) c.destroy();
    if (tcp) await new Promise<void>((resolve) => tcp.close(() => resolve()));
  }

  /** The answer to one raw query, or undefined to drop it. */
  async answer(query: Buffer, transport: "udp" | "tcp"): Promise<Buffer | undefined> {
    this.#stats.queries += 1;
    let packet: DecodedPacket;
    try {
      packet = dnsPacket.decode(query);
    } catch {
      this.#stats.dropped.malformed += 1;
      return undefined;
    }
    const question = packet.questions?.[0];
    if (packet.type !== "query" || packet.questions?.length !== 1 || question === undefined) return this.#forward(query, packet, transport);
    const found = this.#o.names().lookup(question.name);
    if (found.kind === "outside") return this.#forward(query, packet, transport);
    if (found.kind === "nxdomain") {
      this.#stats.nxdomain += 1;
      return respond(packet, question, RCODE.NXDOMAIN, []);
    }
    this.#stats.meshAnswers += 1;
    const ttl = this.#o.ttlSeconds ?? 5;
    const answers: Answer[] = question.type === "A" || String(question.type) === "ANY"
      ? found.ipv4.map((ip) => ({ type: "A", class: "IN", name: question.name, ttl, data: ip }))
      : [];
    return respond(packet, question, RCODE.NOERROR, answers);
  }

  async #forward(query: Buffer, packet: DecodedPacket, transport: "udp" | "tcp"): Promise<Buffer | undefined> {
    const result = await this.#o.forwarder.forward(query, transport);
    if (result.ok) {
      this.#stats.forwarded += 1;
      return result.answer;
    }
    if (result.reason === "limit") {
      this.#stats.dropped.forwardLimit += 1;
      return undefined;
    }
    this.#stats.forwardFailures += 1;
    const question = packet.questions?.[0];
    return question === undefined ? undefined : respond(packet, question, RCODE.SERVFAIL, []);
  }

  async #onUdp(socket: Socket, msg: Buffer, address: string, port: number): Promise<void> {
    const answer = await this.answer(msg, "udp");
    if (answer !== undefined && this.#udp === socket) socket.send(answer, port, address);
  }

  #onTcp(socket: TcpSocket): void {
    if (this.#connections.size >= (this.#o.maxTcpConnections ?? 64)) {
      this.#stats.dropped.tcpConnections += 1;
      socket.destroy();
      return;
    }
    this.#connections.add(socket);
    socket.setTimeout(this.#o.tcpIdleMs ?? 10_000, () => socket.destroy());
    socket.on("close", () => this.#connections.delete(socket));
    socket.on("error", () => socket.destroy());
    let buffered = Buffer.alloc(0);
    let busy = false;
    const next = async (): Promise<void> => {
      if (busy || buffered.length < 2) return;
      const size = buffered.readUInt16BE(0);
      if (buffered.length < 2 + size) return;
      const query = buffered.subarray(2, 2 + size);
      buffered = buffered.subarray(2 + size);
      busy = true;
      // One query at a time per connection: a client cannot pile up forwards (or memory) on one socket.
      socket.pause();
      const answer = await this.answer(Buffer.from(query), "tcp");
      busy = false;
      if (socket.destroyed) return;
      if (answer === undefined) {
        socket.destroy();
        return;
      }
      const length = Buffer.alloc(2);
      length.writeUInt16BE(answer.length);
      socket.write(Buffer.concat([length, answer]));
      socket.resume();
      await next();
    };
    socket.on("data", (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      if (buffered.length > 2 + MAX_TCP_MESSAGE) {
        this.#stats.dropped.malformed += 1;
        socket.destroy();
        return;
      }
      void next();
    });
  }
}

function respond(query: DecodedPacket, question: Question, rcode: number, answers: Answer[]): Buffer {
  const recursionDesired = query.flag_rd ? dnsPacket.RECURSION_DESIRED : 0;
  return dnsPacket.encode({
    type: "response",
    id: query.id ?? 0,
    flags: dnsPacket.AUTHORITATIVE_ANSWER | dnsPacket.RECURSION_AVAILABLE | recursionDesired | rcode,
    questions: [question],
    answers,
  });
}
