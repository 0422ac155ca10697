// A proxy that stops reading its Connect stream, over real gRPC and HTTP/2
// flow control: the other proxies keep getting every change, and when the
// stuck one reads again it gets the newest version, not the backlog.
import { test } from "node:test";
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { enroll, TestStream } from "../helpers/grpc-agent.js";
import { quietPeriod } from "../helpers/wait.js";
import { startTestController, type TestController } from "../helpers/in-process-controller.js";
import type { ControllerConfig } from "../../src/controller/config/schema.js";

// ~25 KB per config. grpc-js on the client side reads ahead up to 16 messages
// plus an HTTP/2 window before a paused stream pushes back on the server, so
// the stuck proxy must be sent clearly more versions than that.
const DB_ENDPOINTS = 300;
const ROUNDS = 40;

/** web on 127.0.0.2 and .6, and many db endpoints whose port moves every round. */
function hosts(dbPort: number): string {
  const lines = ["hosts:",
    "  - { name: web-1, address: 127.0.0.2, services: [{ name: web, namespace: shop, port: 8080 }] }",
    "  - { name: web-2, address: 127.0.0.6, services: [{ name: web, namespace: shop, port: 8080 }] }"];
  for (let i = 0; i < DB_ENDPOINTS; i++) lines.push(`  - { name: db-${i}, address: 127.1.${i >> 8}.${i & 255}, services: [{ name: db, namespace: shop, port: ${dbPort} }] }`);
  return `${lines.join("\n")}\n`;
}

// Permissive and JSON: every web proxy's view holds every db endpoint, as plain text we can search.
const patch = (c: ControllerConfig): ControllerConfig => ({ ...c, driver: "json", mesh: { ...c.mesh, permissive: true } });

async function connect(t: { after: (fn: () => void) => void }, ctl: TestController, ca: string, address: string): Promise<TestStream> {
  const token = (await ctl.api<{ token: string }>("/api/v1/tokens", { service: "shop/web", ttl: "10m", uses: 1 })).token;
  const { keyPem, response } = await enroll(ctl.grpcAddress, ca, token);
  const stream = new TestStream(ctl.grpcAddress, ca, keyPem, response.certificatePem);
  t.after(() => stream.close());
  stream.hello(response.proxyId, [address], [{ ip: address, port: 8080 }]);
  return stream;
}

const hasPort = (port: number) => (m: { config?: { files: Array<{ content: Uint8Array }> } | null }) =>
  m.config != null && Buffer.from(m.config.files[0]!.content).includes(`"port": ${port}`);

test("a stuck proxy does not hold up the others and, once it reads again, skips to the newest version", async (t) => {
  const ctl = await startTestController(t, { hosts: hosts(5000), patch });
  const ca = await ctl.api<string>("/api/v1/ca");
  const healthy = await connect(t, ctl, ca, "127.0.0.2");
  const stuck = await connect(t, ctl, ca, "127.0.0.6");
  await healthy.next(hasPort(5000), 15_000);
  await stuck.next(hasPort(5000), 15_000);
  stuck.pause();
  const before = stuck.messages.length;

  const versionOf = async (address: string) =>
    (await ctl.api<Array<{ config: { version: number } | null; addresses: string[] }>>("/api/v1/proxies")).find((p) => p.addresses.includes(address))!.config!.version;
  const firstVersion = await versionOf("127.0.0.6");
  for (let round = 1; round <= ROUNDS; round++) {
    await writeFile(ctl.hostsFile, hosts(5000 + round));
    // Each round becomes a version of its own because the next write waits for
    // the healthy proxy to receive this one — not for a pause that a loaded
    // machine can outlast the debounce and coalescing with (it used to sleep 60 ms).
    await healthy.next(hasPort(5000 + round), 15_000);
  }
  // The healthy proxy gets the newest while the stuck one still holds its stream full.
  await healthy.next(hasPort(5000 + ROUNDS), 15_000);
  const stuckVersion = await versionOf("127.0.0.6");
  const produced = stuckVersion - firstVersion;
  assert.ok(produced > 24, `only ${produced} versions were produced; the test needs more than grpc-js reads ahead`);
  assert.equal(await versionOf("127.0.0.2"), stuckVersion, "versions are counted for the stuck proxy as for the others");

  stuck.resume();
  await stuck.next(hasPort(5000 + ROUNDS), 15_000, before);
  // Negative check: time for versions that should NOT still arrive (more only makes it stricter).
  await quietPeriod(300, "no older versions after the newest");
  const received = stuck.messages.slice(before).filter((m) => m.message === "config");
  assert.ok(received.length < produced, `the backlog was skipped: ${received.length} of ${produced} versions delivered`);
  assert.equal(received.at(-1)!.config!.version, stuckVersion, "the last one delivered is the newest");
  assert.ok(received.every((m, i) => i === 0 || m.config!.version > received[i - 1]!.config!.version), "versions only go up");
});
