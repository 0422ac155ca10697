// A small DNS client and a fake upstream DNS server for the agent DNS tests, on dns-packet.
import { createSocket, type Socket } from "node:dgram";
import { once } from "node:events";
import { connect, createServer, type Server } from "node:net";
import dnsPacket, { type Answer, type DecodedPacket, type RecordType } from "dns-packet";

/** The parts of an answer the tests look at (dns-packet's types leave rcode and record data out). */
export interface DnsReply {
  readonly rcode: string;
  readonly flag_aa: boolean;
  readonly flag_tc: boolean;
  readonly answers: ReadonlyArray<{ readonly type: string; readonly data: string }>;
}

export async function query(port: number, name: string, type: RecordType, transport: "udp" | "tcp" = "udp", host = "127.0.0.1", timeoutMs = 5000): Promise<DnsReply> {
  const packet = dnsPacket.encode({ type: "query", id: Math.floor(Math.random() * 65535), flags: dnsPacket.RECURSION_DESIRED, questions: [{ type, name, class: "IN" }] });
  const raw = transport === "udp" ? await udp(packet, host, port, timeoutMs) : await tcp(packet, host, port, timeoutMs);
  const decoded = dnsPacket.decode(raw) as DecodedPacket & { rcode: string };
  return {
    rcode: decoded.rcode, flag_aa: decoded.flag_aa, flag_tc: decoded.flag_tc,
    answers: (decoded.answers ?? []).map((a) => ({ type: a.type, data: String((a as { data?: unknown }).data) })),
  };
}

function udp(packet: Buffer, host: string, port: number, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = createSocket("udp4");
    const timer = setTimeout(() => { socket.close(); reject(new Error("udp query timed out")); }, timeoutMs);
    socket.on("message", (msg) => { clearTimeout(timer); socket.close(); resolve(msg); });
    socket.send(packet, port, host);
  });
}

function tcp(packet: Buffer, host: string, port: number, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    const timer = setTimeout(() => { socket.destroy(); reject(new Error("tcp query timed out")); }, timeoutMs);
    let buf = Buffer.alloc(0);
    socket.on("error", (err) => { clearTimeout(timer); reject(err); });
    socket.on("connect", () => {
      const len = Buffer.alloc(2);
      len.writeUInt16BE(packet.length);
      socket.write(Buffer.concat([len, packet]));
    });
    socket.on("data", (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        clearTimeout(timer);
        socket.destroy();
        resolve(buf.subarray(2, 2 + buf.readUInt16BE(0)));
      }
    });
  });
}

export interface FakeUpstream {
  readonly port: number;
  /** Queries seen, as "udp:name" / "tcp:name". */
  readonly seen: string[];
  close(): Promise<void>;
}

/**
 * Answers names under example.test (A: `address`; others NXDOMAIN); names starting with "big." come back
 * truncated (TC, no answers) over UDP and whole over TCP; names starting with
 * "silent." are never answered.
 */
export async function fakeUpstream(address = "192.0.2.7", host = "127.0.0.1", port = 0): Promise<FakeUpstream> {
  const seen: string[] = [];
  const answerFor = (msg: Buffer, transport: "udp" | "tcp"): Buffer | undefined => {
    const q = dnsPacket.decode(msg);
    const question = q.questions![0]!;
    seen.push(`${transport}:${question.name}`);
    if (question.name.startsWith("silent.")) return undefined;
    if (!question.name.toLowerCase().endsWith(".example.test")) {
      return dnsPacket.encode({ type: "response", id: q.id, flags: dnsPacket.RECURSION_AVAILABLE | 3, questions: [question], answers: [] });
    }
    const truncated = transport === "udp" && question.name.startsWith("big.");
    const answers: Answer[] = truncated || question.type !== "A" ? [] : Array.from({ length: question.name.startsWith("big.") ? 40 : 1 }, (_, i) => ({ type: "A" as const, name: question.name, ttl: 60, data: i === 0 ? address : `192.0.2.${100 + i}` }));
    return dnsPacket.encode({ type: "response", id: q.id, flags: dnsPacket.RECURSION_AVAILABLE | (truncated ? dnsPacket.TRUNCATED_RESPONSE : 0), questions: [question], answers });
  };
  // UDP and TCP on one port number: with port 0 the TCP side may be taken by
  // another test's socket, so both are let go and another port is tried (a
  // half-bound upstream left open would keep the test file from exiting).
  let socket: Socket | undefined;
  let server: Server | undefined;
  let bound = 0;
  const connections = new Set<import("node:net").Socket>();
  for (let attempt = 1; server === undefined; attempt++) {
    const udp: Socket = createSocket("udp4");
    udp.on("message", (msg, rinfo) => {
      const a = answerFor(msg, "udp");
      if (a) udp.send(a, rinfo.port, rinfo.address);
    });
    udp.bind(port, host);
    await once(udp, "listening");
    bound = udp.address().port;
    const tcp: Server = createServer((c) => {
      connections.add(c);
      c.on("close", () => connections.delete(c));
      let buf = Buffer.alloc(0);
      c.on("error", () => c.destroy());
      c.on("data", (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
          const msg = buf.subarray(2, 2 + buf.readUInt16BE(0));
          buf = buf.subarray(2 + msg.length);
          const a = answerFor(msg, "tcp");
          if (!a) continue;
          const len = Buffer.alloc(2);
          len.writeUInt16BE(a.length);
          c.write(Buffer.concat([len, a]));
        }
      });
    });
    try {
      tcp.listen(bound, host);
      await once(tcp, "listening");
      socket = udp;
      server = tcp;
    } catch (err) {
      udp.close();
      if (port !== 0 || (err as NodeJS.ErrnoException).code !== "EADDRINUSE" || attempt >= 10) throw err;
    }
  }
  const udpSocket = socket!;
  const tcpServer = server;
  return {
    port: bound,
    seen,
    close: async () => {
      udpSocket.close();
      for (const c of connections) c.destroy();
      await new Promise<void>((r) => tcpServer.close(() => r()));
    },
  };
}
