/**
 * The smallest RFC 6455 server the admin link needs: accept the upgrade,
 * send unmasked text frames (`reload`), answer pings, echo a close. Data
 * frames from Pipy (an empty text frame on connect, log lines once logging
 * is switched on) are read and ignored. Hand-written to avoid a dependency
 * for ~100 lines.
 */
import { createHash } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";

const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
/** Pipy sends short commands and log lines; anything larger is refused. */
const MAX_FRAME = 1024 * 1024;

const OP_TEXT = 0x1;
const OP_CLOSE = 0x8;
const OP_PING = 0x9;
const OP_PONG = 0xa;

/** Writes the 101 answer; undefined (and a 400 written) when the request is no valid upgrade. */
export function acceptWebSocket(req: IncomingMessage, socket: Duplex, head: Buffer): WebSocketConnection | undefined {
  const key = req.headers["sec-websocket-key"];
  const upgrade = req.headers.upgrade?.toLowerCase();
  if (upgrade !== "websocket" || typeof key !== "string" || req.headers["sec-websocket-version"] !== "13") {
    socket.end("HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n");
    return undefined;
  }
  const accept = createHash("sha1").update(key + GUID).digest("base64");
  socket.write(`HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: ${accept}\r\n\r\n`);
  const conn = new WebSocketConnection(socket);
  if (head.length > 0) conn.receive(head);
  return conn;
}

export function encodeFrame(opcode: number, payload: Buffer): Buffer {
  const len = payload.length;
  let header: Buffer;
  if (len < 126) {
    header = Buffer.from([0x80 | opcode, len]);
  } else if (len < 65536) {
    header = Buffer.alloc(4);
    header[0] = 0x80 | opcode;
    header[1] = 126;
    header.writeUInt16BE(len, 2);
  } else {
    header = Buffer.alloc(10);
    header[0] = 0x80 | opcode;
    header[1] = 127;
    header.writeBigUInt64BE(BigInt(len), 2);
  }
  return Buffer.concat([header, payload]);
}

export class WebSocketConnection {
  readonly #socket: Duplex;
  #buffer: Buffer = Buffer.alloc(0);
  #closed = false;
  readonly closed: Promise<void>;

  constructor(socket: Duplex) {
    this.#socket = socket;
    this.closed = new Promise((resolve) => {
      socket.once("close", () => {
        this.#closed = true;
        resolve();
      });
    });
    socket.on("data", (chunk: Buffer) => this.receive(chunk));
    socket.on("error", () => socket.destroy());
  }

  get isOpen(): boolean {
    return !this.#closed;
  }

  sendText(text: string): void {
    if (!this.#closed) this.#socket.write(encodeFrame(OP_TEXT, Buffer.from(text)));
  }

  close(code = 1000): void {
    if (this.#closed) return;
    const payload = Buffer.alloc(2);
    payload.writeUInt16BE(code, 0);
    this.#socket.end(encodeFrame(OP_CLOSE, payload));
    this.#closed = true;
  }

  destroy(): void {
    this.#closed = true;
    this.#socket.destroy();
  }

  receive(chunk: Buffer): void {
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    for (;;) {
      const frame = this.#nextFrame();
      if (frame === undefined) return;
      if (frame === "invalid") {
        this.close(1002);
        return;
      }
      if (frame.opcode === OP_CLOSE) {
        this.close(frame.payload.length >= 2 ? frame.payload.readUInt16BE(0) : 1000);
        return;
      }
      if (frame.opcode === OP_PING) this.#socket.write(encodeFrame(OP_PONG, frame.payload));
    }
  }

  #nextFrame(): { opcode: number; payload: Buffer } | "invalid" | undefined {
    const b = this.#buffer;
    if (b.length < 2) return undefined;
    const opcode = b[0]! & 0x0f;
    const masked = (b[1]! & 0x80) !== 0;
    let len = b[1]! & 0x7f;
    let offset = 2;
    if (len === 126) {
      if (b.length < 4) return undefined;
      len = b.readUInt16BE(2);
      offset = 4;
    } else if (len === 127) {
      if (b.length < 10) return undefined;
      const big = b.readBigUInt64BE(2);
      if (big > BigInt(MAX_FRAME)) return "invalid";
      len = Number(big);
      offset = 10;
    }
    // RFC 6455 §5.1: a client MUST mask every frame.
    if (!masked || len > MAX_FRAME) return "invalid";
    if (b.length < offset + 4 + len) return undefined;
    const mask = b.subarray(offset, offset + 4);
    const payload = Buffer.from(b.subarray(offset + 4, offset + 4 + len));
    for (let i = 0; i < payload.length; i++) payload[i] = payload[i]! ^ mask[i % 4]!;
    this.#buffer = b.subarray(offset + 4 + len);
    return { opcode, payload };
  }
}
