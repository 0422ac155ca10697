// A hand-written stand-in for the write side of a Connect stream whose peer
// has stopped reading: writes are accepted but never flushed until the test
// says so, and the stream reports "full" past a small high-water mark, the
// way a grpc-js server stream does under HTTP/2 flow control.
import { EventEmitter } from "node:events";
import { loadProto, type ControllerMessage } from "../../src/common/proto.js";
import { EncodedControllerMessage, type OutgoingControllerMessage } from "../../src/controller/proxy-control-plane/config-message.js";
import type { ProxyStream } from "../../src/controller/proxy-control-plane/session.js";

/** Pre-encoded messages decoded the way an agent decodes them, so tests read fields either way. */
function decoded(message: OutgoingControllerMessage): ControllerMessage {
  if (!(message instanceof EncodedControllerMessage)) return message;
  return loadProto().meshfed.v1.ProxyControlPlane.service.Connect.responseDeserialize(message.bytes);
}

export class StuckProxyStream extends EventEmitter {
  /** Every message handed to the stream, in order (decoded when it was written pre-encoded). */
  readonly written: ControllerMessage[] = [];
  destroyed = false;
  writableEnded = false;
  readonly #unflushed: Array<() => void> = [];

  constructor(private readonly highWaterMark = 4) {
    super();
  }

  write(message: OutgoingControllerMessage, callback?: () => void): boolean {
    this.written.push(decoded(message));
    this.#unflushed.push(callback ?? (() => undefined));
    return this.#unflushed.length < this.highWaterMark;
  }

  end(): void {
    this.writableEnded = true;
  }

  /** Messages accepted but not yet flushed to the (imaginary) peer. */
  get unflushed(): number {
    return this.#unflushed.length;
  }

  /** The peer reads again: everything buffered is flushed and the stream drains. */
  flush(): void {
    const callbacks = this.#unflushed.splice(0);
    for (const cb of callbacks) cb();
    this.emit("drain");
  }

  asProxyStream(): ProxyStream {
    return this as unknown as ProxyStream;
  }
}
