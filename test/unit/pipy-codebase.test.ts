// The PipyJS modules without Pipy: each parses as an ES module (`node --check`;
// PipyJS is a JavaScript subset, so a syntax error here is one in Pipy too),
// and the pure logic of tls.js and routing.js runs in Node against stub globals.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { CODEBASE } from "../../src/controller/drivers/pipy/codebase/index.js";
import { noOutboundView, splitView, tcpView } from "./pipy-fixtures.js";
import { renderedConfig } from "../helpers/pipyjs.js";

const run = promisify(execFile);

test("every PipyJS module is valid ES-module syntax (node --check)", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "meshfed-pipyjs-"));
  t.after(() => rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 }));
  for (const m of CODEBASE) {
    const file = join(dir, `${m.path.slice(1).replace(/\.js$/, "")}.mjs`);
    await writeFile(file, m.source);
    await assert.doesNotReject(run(process.execPath, ["--check", file]), `${m.path} does not parse`);
  }
});

test("modules stay inside the PipyJS subset we rely on", () => {
  for (const m of CODEBASE) {
    // No classes, generators, async, let/const: we only use what Pipy 1.5's parser and samples show.
    assert.doesNotMatch(m.source, /\b(class|async|await|yield|let|const)\s/, `${m.path}`);
    // Pipy 1.5.18 refuses `continue` ("Syntax error: unexpected token"), which Node accepts.
    assert.doesNotMatch(m.source.replace(/\/\/.*$/gm, ""), /\bcontinue\b/, `${m.path}: no continue`);
    assert.doesNotMatch(m.source, /`|\$\{/, `${m.path}: no template literals (String.raw embedding)`);
    for (const imp of m.source.matchAll(/^import \w+ from '([^']+)'$/gm)) {
      assert.ok(CODEBASE.some((x) => x.path === imp[1]), `${m.path} imports ${imp[1]}, which is not in the codebase`);
    }
  }
});

/** Evaluates one module in Node: imports become parameters, `export default` a return. */
function load(path: string, imports: Record<string, unknown>, globals: Record<string, unknown> = {}): Record<string, (...args: unknown[]) => unknown> {
  const source = CODEBASE.find((m) => m.path === path)!.source;
  const names: string[] = [];
  const values: unknown[] = [];
  const body = source
    .replace(/^import (\w+) from '([^']+)'$/gm, (_m, name: string, from: string) => {
      assert.ok(from in imports, `${path} imports ${from}`);
      names.push(name);
      values.push(imports[from]);
      return "";
    })
    .replace(/^export default /m, "return ");
  const args = [...values, ...Object.values(globals)];
  // eslint-disable-next-line @typescript-eslint/no-implied-eval
  const fn = new Function(...names, ...Object.keys(globals), body) as (...a: unknown[]) => Record<string, (...args: unknown[]) => unknown>;
  return fn(...args);
}

const configOf = (view: typeof splitView): unknown => renderedConfig(view);

test("routing.js admits TrafficTarget sources only, matches path/method/header rules and TCP ports", () => {
  const routing = load("/routing.js", { "/config.js": configOf(noOutboundView) });
  const bookbuyer = "bookbuyer.bookbuyer.svc.cluster.local";
  assert.equal(routing.admitted!(bookbuyer, 8080), true);
  assert.equal(routing.admitted!("bookthief.bookthief.svc.cluster.local", 8080), false);
  assert.equal(routing.admitted!(bookbuyer, 9090), false, "the TrafficTarget is restricted to port 8080");
  assert.equal(routing.admitted!("", 8080), false);
  const head = (method: string, path: string, headers: Record<string, string> = {}) => ({ method, path, headers });
  assert.equal(routing.httpAllowed!(bookbuyer, 8080, head("GET", "/books/1?x=1", { "x-tenant": "acme" })), "bookstore/bookstore-v1-access");
  // The second match ("any") admits everything for bookbuyer; check the first alone via a stricter config.
  const strict = configOf({ ...noOutboundView, inbound: { ...noOutboundView.inbound, rules: [{ ...noOutboundView.inbound.rules[0]!, httpMatches: [noOutboundView.inbound.rules[0]!.httpMatches[0]!] }] } });
  const r = load("/routing.js", { "/config.js": strict });
  assert.equal(r.httpAllowed!(bookbuyer, 8080, head("GET", "/books", { "x-tenant": "umbrella" })), "bookstore/bookstore-v1-access");
  assert.equal(r.httpAllowed!(bookbuyer, 8080, head("POST", "/books", { "x-tenant": "acme" })), "", "method");
  assert.equal(r.httpAllowed!(bookbuyer, 8080, head("GET", "/authors", { "x-tenant": "acme" })), "", "path is anchored");
  assert.equal(r.httpAllowed!(bookbuyer, 8080, head("GET", "/books", { "x-tenant": "acme-evil" })), "", "header value is anchored");
  assert.equal(r.httpAllowed!(bookbuyer, 8080, head("GET", "/books")), "", "header missing");
  assert.equal(r.httpAllowed!("bookthief.bookthief.svc.cluster.local", 8080, head("GET", "/books", { "x-tenant": "acme" })), "");
  assert.equal(r.tcpAllowed!(bookbuyer, 8080, "http"), false);

  const db = load("/routing.js", { "/config.js": configOf(tcpView) });
  assert.equal(db.tcpAllowed!("web.shop.svc.cluster.local", 5432, "tcp"), true);
  assert.equal(db.tcpAllowed!("pay.shop.svc.cluster.local", 5432, "tcp"), false);
});

test("routing.js resolves Host headers and absolute proxy URIs to the upstream", () => {
  const routing = load("/routing.js", { "/config.js": configOf(splitView) });
  for (const host of ["bookstore.bookstore", "bookstore.bookstore:8080", "BOOKSTORE.bookstore.svc", "bookstore.bookstore.svc.cluster.local:8080"]) {
    assert.equal(routing.resolve!({ path: "/", headers: { host } }), 0, host);
  }
  assert.equal(routing.resolve!({ path: "/", headers: { host: "bookstore-v1.bookstore" } }), 1);
  assert.equal(routing.resolve!({ path: "/", headers: { host: "example.com" } }), -1);
  const head = { path: "http://bookstore.bookstore:8080/books?id=1", headers: { host: "ignored" } };
  assert.equal(routing.resolve!(head), 0);
  assert.equal(head.path, "/books?id=1");
});

test("tls.js reads identities from the DNS SAN or CN, never a proxy certificate's name", () => {
  const config = configOf(splitView);
  const pipy = { load: () => null };
  const tls = load("/tls.js", { "/config.js": config }, { pipy, crypto: {} });
  assert.equal(tls.ready, false, "no certificate files: not ready");
  const cert = (cn: string, sans: string[]) => ({ subject: { commonName: cn }, subjectAltNames: sans });
  assert.equal(tls.meshIdentity!(cert("x", ["bookstore-v1.bookstore.svc.cluster.local"])), "bookstore-v1.bookstore.svc.cluster.local");
  assert.equal(tls.meshIdentity!(cert("bookstore.bookstore.svc.cluster.local", [])), "bookstore.bookstore.svc.cluster.local");
  assert.equal(tls.meshIdentity!(cert("0b7a.agent.bookstore.bookstore.cluster.local", ["0b7a.agent.bookstore.bookstore.cluster.local"])), "");
  assert.equal(tls.meshIdentity!(cert("bookstore.bookstore.svc.example.org", [])), "", "another trust domain");
  assert.equal(tls.hasIdentity!(cert("a", ["bookstore-v2.bookstore.svc.cluster.local"]), "bookstore-v2.bookstore.svc.cluster.local"), true);
  assert.equal(tls.hasIdentity!(cert("a", ["bookstore-v2.bookstore.svc.cluster.local"]), "bookstore-v1.bookstore.svc.cluster.local"), false);
});

// PipyJS is not type-checked: a second top-level `var` of the same name
// silently replaces the first (a merge once made the inbound HTTP denial
// close TCP connections that way). Every module declares each name once.
test("no PipyJS module declares a top-level name twice", () => {
  for (const m of CODEBASE) {
    const names = [...m.source.matchAll(/^var ([$\w]+)/gm)].map((x) => x[1]!);
    const twice = names.filter((n, i) => names.indexOf(n) !== i);
    assert.deepEqual(twice, [], `${m.path} declares ${twice.join(", ")} more than once`);
  }
});

// Pipy 1.5.18's admin /metrics writes each histogram bucket on its own count
// and the last as le="Inf" (seen with the real binary); scrape.js makes them
// what Prometheus reads: cumulative per series, ending in +Inf.
test("scrape.js turns Pipy's per-bucket histogram lines into cumulative ones, per series, and leaves the rest alone", () => {
  const scrape = load("/scrape.js", { "/replies.js": {} }, { pipy: { load: () => null } });
  const pipyText = [
    "# TYPE t_seconds histogram",
    't_seconds_bucket{a="x",le="0.005"} 0', 't_seconds_bucket{a="x",le="0.01"} 2', 't_seconds_bucket{a="x",le="1"} 1', 't_seconds_bucket{a="x",le="Inf"} 1',
    't_seconds_count{a="x"} 4', 't_seconds_sum{a="x"} 1.5',
    't_seconds_bucket{a="y",le="0.005"} 3', 't_seconds_bucket{a="y",le="0.01"} 0', 't_seconds_bucket{a="y",le="1"} 0', 't_seconds_bucket{a="y",le="Inf"} 0',
    "# TYPE pipy_x counter", 'not_a_histogram_bucket{le="1"} 5', "pipy_x 7", "",
  ].join("\n");
  assert.deepEqual(scrape.cumulative!(pipyText), [
    "# TYPE t_seconds histogram",
    't_seconds_bucket{a="x",le="0.005"} 0', 't_seconds_bucket{a="x",le="0.01"} 2', 't_seconds_bucket{a="x",le="1"} 3', 't_seconds_bucket{a="x",le="+Inf"} 4',
    't_seconds_count{a="x"} 4', 't_seconds_sum{a="x"} 1.5',
    't_seconds_bucket{a="y",le="0.005"} 3', 't_seconds_bucket{a="y",le="0.01"} 3', 't_seconds_bucket{a="y",le="1"} 3', 't_seconds_bucket{a="y",le="+Inf"} 3',
    "# TYPE pipy_x counter", 'not_a_histogram_bucket{le="1"} 5', "pipy_x 7", "",
  ].join("\n"));
});

test("metrics.js labels a party of a call by namespace, service name and identity (namespace/account); unknown parts say so", () => {
  const stub = function () { return { withLabels: () => ({}) }; };
  const metrics = load("/metrics.js", { "/config.js": null }, { stats: { Counter: stub, Histogram: stub } }) as unknown as { peer: (s: string, i: string) => unknown; self: unknown };
  assert.deepEqual(metrics.peer("shop/bookstore", "bookstore-sa.shop.svc.cluster.local"), { namespace: "shop", service: "bookstore", identity: "shop/bookstore-sa" });
  assert.deepEqual(metrics.peer("", "bookbuyer.shop.svc.cluster.local"), { namespace: "shop", service: "unknown", identity: "shop/bookbuyer" });
  assert.deepEqual(metrics.peer("", ""), { namespace: "unknown", service: "unknown", identity: "unknown" });
  assert.deepEqual(metrics.self, { namespace: "unknown", service: "unknown", identity: "unknown" }, "no config yet");
});
