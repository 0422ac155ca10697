/**
 * A fake Pipy for the supervisor and convergence tests: a real child process
 * (Node script written to a temp dir) that behaves like Pipy towards the
 * agent's repo — GET manifest + files on one keep-alive connection, HEAD
 * polling of the ETag, status POSTs carrying `version` ("" until the first
 * reload, then the manifest ETag), a WebSocket admin link that obeys
 * `reload` — and like Pipy towards its supervisor: SIGINT drains then exits.
 *
 * Knobs (environment):
 *   FAKE_PIPY_EVENTS   file to append event lines to ("start <pid>", "loaded <etag>", "sigint", "reload-failed")
 *   FAKE_PIPY_POLL_MS  poll/status period (default 200; real Pipy: 5000)
 *   FAKE_PIPY_CRASH_MS exit(3) this long after start
 *   FAKE_PIPY_IGNORE_SIGINT=1  never exit on SIGINT (to test SIGKILL)
 *   FAKE_PIPY_DRAIN_MS delay between SIGINT and exit (default 50)
 * A file whose content contains FAIL_TO_LOAD makes the load fail (like a
 * script error): the old version keeps running.
 */
import { chmod, writeFile } from "node:fs/promises";
import { join } from "node:path";

const SCRIPT = String.raw`#!/usr/bin/env node
import http from "node:http";
import { appendFileSync } from "node:fs";
import { randomBytes } from "node:crypto";

const args = process.argv.slice(2);
if (args.includes("--version")) { console.log("Version          : 0.0.0-fake"); process.exit(0); }
const url = new URL(args.find((a) => a.startsWith("http")));
const uuid = (args.find((a) => a.startsWith("--instance-uuid=")) ?? "=").split("=")[1];
const poll = Number(process.env.FAKE_PIPY_POLL_MS ?? 200);
// Like a daemon whose supervisor died (kill -9 of the agent): output to the
// broken pipe is lost, the process keeps running and holding its ports.
process.stdout.on("error", () => {});
process.stderr.on("error", () => {});
const since = Date.now();
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const event = (line) => { if (process.env.FAKE_PIPY_EVENTS) appendFileSync(process.env.FAKE_PIPY_EVENTS, line + "\n"); };
let version = "";      // what status reports: "" until the first reload
let etag;              // the manifest ETag last downloaded (Pipy's m_etag)
let started = false;
let busy = false;

function request(method, path, body) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: url.hostname, port: url.port, method, path, agent, headers: body ? { "content-type": "application/json" } : {} }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

async function download() {
  if (busy) return;
  busy = true;
  try {
    const m = await request("GET", url.pathname);
    if (m.status !== 200) { console.error("[codebase] GET " + url.pathname + " -> " + m.status); return; }
    etag = m.headers.etag;
    const base = url.pathname.replace(/\/$/, "");
    const files = m.body.split("\n").filter((l) => l.trim() !== "");
    let failed = false;
    for (const f of files) {
      const r = await request("GET", base + f);
      if (r.status === 404) continue;
      if (r.status !== 200) { console.error("[codebase] GET " + f + " -> " + r.status); return; }
      if (r.body.includes("FAIL_TO_LOAD")) failed = true;
    }
    if (failed) {
      console.error("error: script " + files[0] + " failed to load");
      event("reload-failed " + etag);
      return;
    }
    if (started) version = etag; else started = true;
    console.log("[restart] Codebase loaded " + etag);
    event("loaded " + etag);
  } catch (err) {
    console.error("error: fetch failed " + err.message);
  } finally {
    busy = false;
  }
}

async function tick() {
  try {
    if (!started) { await download(); }
    else {
      const h = await request("HEAD", url.pathname);
      if (h.status === 200 && h.headers.etag !== etag) await download();
    }
    if (started) {
      await request("POST", url.pathname, JSON.stringify({ timestamp: Date.now(), since, uuid, name: "fake", ip: "127.0.0.1", version, modules: {}, logs: [] }));
      connectLink();
    }
  } catch (err) {
    console.error("error: " + err.message);
  }
}

let link;
function connectLink() {
  if (link) return;
  link = "connecting";
  const req = http.request({ host: url.hostname, port: url.port, path: url.pathname + uuid, headers: { upgrade: "websocket", connection: "upgrade", "sec-websocket-key": randomBytes(16).toString("base64"), "sec-websocket-version": "13" } });
  req.on("upgrade", (_res, socket) => {
    link = socket;
    event("link");
    // Like Pipy: an empty masked text frame on connect.
    socket.write(Buffer.from([0x81, 0x80, 1, 2, 3, 4]));
    let buf = Buffer.alloc(0);
    socket.on("data", (d) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 2) {
        const len = buf[1] & 0x7f;
        if (len > 125 || buf.length < 2 + len) break;
        const text = buf.subarray(2, 2 + len).toString();
        buf = buf.subarray(2 + len);
        if ((buf.length >= 0) && text === "reload") { event("reload-pushed"); void download().then(tick); }
      }
    });
    socket.on("close", () => { link = undefined; });
    socket.on("error", () => { link = undefined; });
  });
  req.on("error", () => { link = undefined; });
  req.on("response", () => { link = undefined; });
  req.end();
}

// Installed before "start" is announced, so a test that stops us right after sees the handler run.
let timer;
process.on("SIGINT", () => {
  event("sigint");
  console.log("[fake-pipy] SIGINT");
  if (process.env.FAKE_PIPY_IGNORE_SIGINT === "1") return;
  clearInterval(timer);
  setTimeout(() => process.exit(0), Number(process.env.FAKE_PIPY_DRAIN_MS ?? 50));
});
event("start " + process.pid);
console.log("[fake-pipy] started pid " + process.pid + " repo " + url.href);
timer = setInterval(tick, poll);
void tick();
if (process.env.FAKE_PIPY_CRASH_MS) setTimeout(() => { console.error("error: crashing on purpose"); process.exit(3); }, Number(process.env.FAKE_PIPY_CRASH_MS));
`;

/** Writes the fake Pipy into `dir` and returns its path (executable). */
export async function writeFakePipy(dir: string): Promise<string> {
  const path = join(dir, "fake-pipy.mjs");
  await writeFile(path, SCRIPT);
  await chmod(path, 0o755);
  return path;
}

/**
 * writeFakePipy, with this process's environment (which an in-process
 * agent's Pipy child inherits) pointing the fake at an events file and a
 * 100 ms poll; the variables are removed after the test.
 */
export async function writeFakePipyWithEvents(t: { after(fn: () => void): void }, dir: string): Promise<{ pipy: string; events: string }> {
  const events = join(dir, "events");
  process.env.FAKE_PIPY_EVENTS = events;
  process.env.FAKE_PIPY_POLL_MS = "100";
  t.after(() => {
    delete process.env.FAKE_PIPY_EVENTS;
    delete process.env.FAKE_PIPY_POLL_MS;
  });
  return { pipy: await writeFakePipy(dir), events };
}
