import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { Agent as HttpAgent } from "node:http";
import { connect } from "node:net";
import { randomBytes } from "node:crypto";
import { toServed } from "../../src/agent/config-version.js";
import { PipyRunTracker } from "../../src/agent/repo/pipy-run.js";
import { LocalRepo } from "../../src/agent/repo/server.js";
import { silentLogger } from "../../src/common/logger.js";
import { http } from "../helpers/agent-testbed.js";
import { waitFor } from "../helpers/wait.js";

function version(v: number, files: Record<string, string>) {
  return toServed({ version: v, driver: "json", hash: `h${v}`, files: Object.entries(files).map(([path, c]) => ({ path, content: Buffer.from(c) })) });
}

async function repo(t: TestContext) {
  const tracker = new PipyRunTracker();
  const r = await LocalRepo.listen({ address: { host: "127.0.0.1", port: 0 }, tracker, logger: silentLogger(), status: () => ({ state: "TEST" }) });
  t.after(() => r.close());
  return { r, tracker };
}

test("manifest lists the entry first; files, HEAD, ETag and 404s follow Pipy's repo protocol", async (t) => {
  const { r } = await repo(t);
  assert.equal((await http(r.url)).status, 404, "nothing to serve yet");
  assert.equal((await http(r.url, "HEAD")).status, 404);
  const v1 = version(1, { "/main.js": "pipy()", "/config.json": "{}", "/lib/x.js": "x" });
  r.serve(v1);
  const m = await http(r.url);
  assert.equal(m.status, 200);
  assert.equal(m.body, "/main.js\n/config.json\n/lib/x.js\n");
  const etag1 = m.headers.etag as string;
  assert.match(etag1, /^"[0-9a-f]{64}"$/);
  const head = await http(r.url, "HEAD");
  assert.equal(head.status, 200);
  assert.equal(head.headers.etag, etag1);
  assert.equal(head.body, "");
  assert.equal((await http(`${r.url}lib/x.js`)).body, "x");
  assert.equal((await http(`${r.url}nope.js`)).status, 404);
  assert.equal((await http(`${r.url.replace("/repo/", "/other")}`)).status, 404);
  assert.equal((await http(r.url, "DELETE")).status, 405);

  // One byte changes -> the ETag changes; same bytes in a new version -> same ETag.
  r.serve(version(2, { "/main.js": "pipy()", "/config.json": "{ }", "/lib/x.js": "x" }));
  const etag2 = (await http(r.url, "HEAD")).headers.etag;
  assert.notEqual(etag2, etag1);
  r.serve(version(3, { "/main.js": "pipy()", "/config.json": "{}", "/lib/x.js": "x" }));
  assert.equal((await http(r.url, "HEAD")).headers.etag, etag1);
  // A renamed file changes the ETag even with the same bytes.
  r.serve(version(4, { "/main.js": "pipy()", "/config2.json": "{}", "/lib/x.js": "x" }));
  assert.notEqual((await http(r.url, "HEAD")).headers.etag, etag1);
  assert.deepEqual(JSON.parse((await http(r.url.replace("/repo/", "/status"))).body), { state: "TEST" });
});

test("a download in progress stays on its version when a new one is swapped in", async (t) => {
  const { r } = await repo(t);
  r.serve(version(1, { "/main.js": "one", "/config.json": "1" }));
  const keepAlive = new HttpAgent({ keepAlive: true, maxSockets: 1 });
  t.after(() => keepAlive.destroy());
  const m = await http(r.url, "GET", undefined, keepAlive);
  r.serve(version(2, { "/main.js": "two", "/config.json": "2" }));
  assert.equal((await http(`${r.url}main.js`, "GET", undefined, keepAlive)).body, "one", "same connection: pinned to v1");
  assert.equal((await http(`${r.url}main.js`)).body, "two", "a new connection gets v2");
  assert.notEqual((await http(r.url, "HEAD")).headers.etag, m.headers.etag);
});

test("status POST answers 201 and tells the tracker which version runs", async (t) => {
  const { r, tracker } = await repo(t);
  tracker.expectInstance("pipy-1");
  const v1 = version(1, { "/main.js": "one" });
  r.serve(v1);
  await http(r.url); // the start-up download
  const post = (body: unknown) => http(r.url, "POST", JSON.stringify(body));
  assert.equal((await post({ uuid: "pipy-1", since: 100, version: "", metrics: {} })).status, 201);
  assert.ok(tracker.isRunning(v1.etag), "version '' = what the process loaded at start");
  const v2 = version(2, { "/main.js": "two" });
  r.serve(v2);
  await http(r.url);
  await post({ uuid: "pipy-1", since: 100, version: "" });
  assert.ok(tracker.isRunning(v1.etag), "still '' after a failed reload: still v1");
  await post({ uuid: "pipy-1", since: 100, version: v2.etag });
  assert.ok(tracker.isRunning(v2.etag));
  await post({ uuid: "someone-else", since: 1, version: "x" });
  assert.ok(tracker.isRunning(v2.etag), "reports from another instance are ignored");
  assert.equal((await http(r.url, "POST", "not json")).status, 400);
});

test("WebSocket admin link: upgrade, reload pushed as an unmasked text frame, close", async (t) => {
  const { r } = await repo(t);
  const { port } = r.address;
  const socket = connect(port, "127.0.0.1");
  t.after(() => socket.destroy());
  const key = randomBytes(16).toString("base64");
  socket.write(`GET /repo/pipy-1 HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
  let data = Buffer.alloc(0);
  socket.on("data", (d: Buffer) => (data = Buffer.concat([data, d])));
  await waitFor(() => data.includes("\r\n\r\n"), { what: "101", timeoutMs: 5000 });
  const headEnd = data.indexOf("\r\n\r\n") + 4;
  const head = data.subarray(0, headEnd).toString();
  assert.match(head, /^HTTP\/1\.1 101/);
  const { createHash } = await import("node:crypto");
  assert.match(head, new RegExp(`sec-websocket-accept: ${createHash("sha1").update(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest("base64").replace(/[+/]/g, "\\$&")}`, "i"));
  data = data.subarray(headEnd);
  // Pipy's hello: an empty masked text frame; and a masked ping.
  socket.write(Buffer.from([0x81, 0x80, 9, 9, 9, 9]));
  socket.write(Buffer.from([0x89, 0x81, 1, 2, 3, 4, 0x61 ^ 1]));
  await waitFor(() => data.length >= 3, { what: "pong", timeoutMs: 5000 });
  assert.deepEqual([...data.subarray(0, 3)], [0x8a, 0x01, 0x61], "pong echoes the ping payload");
  data = data.subarray(3);
  await waitFor(() => r.adminLinks === 1, { what: "link registered", timeoutMs: 5000 });
  assert.equal(r.pushReload(), 1);
  await waitFor(() => data.length >= 8, { what: "reload frame", timeoutMs: 5000 });
  assert.deepEqual([...data.subarray(0, 2)], [0x81, 6]);
  assert.equal(data.subarray(2, 8).toString(), "reload");
  data = data.subarray(8);
  // Masked close from the client -> the server echoes close.
  socket.write(Buffer.from([0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8]));
  await waitFor(() => data.length >= 4, { what: "close frame", timeoutMs: 5000 });
  assert.deepEqual([...data.subarray(0, 4)], [0x88, 2, 0x03, 0xe8]);
  await waitFor(() => r.adminLinks === 0, { what: "link gone", timeoutMs: 5000 });
});

test("unmasked client frames are a protocol error; a bad path gets no upgrade", async (t) => {
  const { r } = await repo(t);
  const { port } = r.address;
  const bad = connect(port, "127.0.0.1");
  t.after(() => bad.destroy());
  let reply = "";
  bad.on("data", (d: Buffer) => (reply += d.toString("latin1")));
  bad.write("GET /elsewhere/x HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\nSec-WebSocket-Version: 13\r\n\r\n");
  await waitFor(() => reply.includes("\r\n\r\n"), { what: "answer", timeoutMs: 5000 });
  assert.match(reply, /^HTTP\/1\.1 404/);

  const s = connect(port, "127.0.0.1");
  t.after(() => s.destroy());
  let data = Buffer.alloc(0);
  s.on("data", (d: Buffer) => (data = Buffer.concat([data, d])));
  s.write("GET /repo/abc HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\nSec-WebSocket-Version: 13\r\n\r\n");
  await waitFor(() => data.includes("\r\n\r\n"), { what: "101", timeoutMs: 5000 });
  data = data.subarray(data.indexOf("\r\n\r\n") + 4);
  s.write(Buffer.from([0x81, 0x01, 0x61]));
  await waitFor(() => data.length >= 4, { what: "close 1002", timeoutMs: 5000 });
  assert.deepEqual([...data.subarray(0, 4)], [0x88, 2, 0x03, 0xea]);
});
