/**
 * Makes the controller's gRPC port (127.0.0.1:<port> in this process's
 * namespace) answer at 127.0.0.1:<port> inside each demo host: a Unix
 * socket served here, piped to the controller, and a relay child in each
 * namespace (relay-inside.ts) that listens on loopback there.
 */
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { connect, createServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { stopChild, waitForLine } from "./child.js";
import type { DemoHost } from "./hosts.js";
import type { Teardown } from "./teardown.js";

/** The child that listens inside a namespace: `node RELAY_INSIDE SOCKET PORT`, prints "ready". */
export const RELAY_INSIDE = fileURLToPath(new URL("./relay-inside.js", import.meta.url));

export interface UnixRelay {
  /** The socket file a relay child inside a namespace connects to. */
  readonly path: string;
  /** Ends every piped connection, stops listening and removes the socket's directory. */
  close(): Promise<void>;
}

/** A Unix socket in a fresh temp directory whose connections are piped to 127.0.0.1:`port` in this process's namespace. */
export async function unixRelayTo(port: number): Promise<UnixRelay> {
  const dir = await mkdtemp(join(tmpdir(), "meshfed-relay-"));
  const path = join(dir, "relay.sock");
  const sockets = new Set<Socket>();
  const server = createServer((inside) => {
    const outside = connect(port, "127.0.0.1");
    for (const s of [inside, outside]) {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
      s.on("error", () => { inside.destroy(); outside.destroy(); });
    }
    inside.pipe(outside).pipe(inside);
  });
  server.listen(path);
  try {
    await once(server, "listening");
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    path,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export async function startGrpcRelay(teardown: Teardown, port: number, hosts: readonly DemoHost[]): Promise<void> {
  const relay = await unixRelayTo(port);
  await teardown.add("relay socket", () => relay.close());
  for (const host of hosts) {
    const child = host.spawn([process.execPath, RELAY_INSIDE, relay.path, String(port)]);
    await teardown.add(`relay in ${host.name}`, () => stopChild(child, "SIGTERM"));
    await waitForLine(child, "ready", 10_000);
  }
}
