// Real Pipy, two network namespaces: the sidecars' scrape ports (issue 19
// item 3). Host a runs bookbuyer, an unchanged app whose TCP the nat OUTPUT
// rules (by hand, as in test/helpers/netns-mesh.ts) send to its sidecar;
// host b runs bookstore (HTTP) and db (a framed TCP protocol) behind theirs.
// bookbuyer's sidecar gets the pod's /scrape.json (driver.podFiles(): every
// address, port 15010), b's sidecars the agent's (scrapeFiles(): one address
// each, port 15090). Prometheus is played by curl in the *other* namespace,
// so the port is proven reachable from outside, unlike Pipy's admin port.
// Needs root, iproute2, iptables, curl and PIPY_BIN; skipped (visibly) otherwise:
// `PIPY_BIN=/path/to/pipy node --test dist/test/pipy/sidecar-metrics.test.js`.
import { test } from "node:test";
import assert from "node:assert/strict";
import { chmod, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { scrapeFiles } from "../../src/agent/scrape-file.js";
import { silentLogger } from "../../src/common/logger.js";
import type { ProxyView } from "../../src/controller/catalog/types.js";
import { createCertificateManager } from "../../src/controller/certificates/index.js";
import { CERT_PATHS, PipyDriver } from "../../src/controller/drivers/pipy/pipy-driver.js";
import { SIDECAR_METRICS_PATH, SIDECAR_METRICS_PORT } from "../../src/controller/drivers/pipy/pipy-pod-patch.js";
import { MemoryStore } from "../helpers/certificates.js";
import { lines, netnsUnavailable, twoHosts, type NetnsHost } from "../helpers/netns.js";

const PIPY_BIN = process.env.PIPY_BIN;
const PEER = fileURLToPath(new URL("../helpers/netns-peer.js", import.meta.url));
const PIPY_UID = 65534;
const HTTP_PORT = 14001;
const DB_PORT = 3306;
const VM_METRICS_PORT = 15090;

const sa = (name: string) => ({ kind: "ServiceAccount" as const, namespace: "shop", name });
const svc = (name: string) => ({ namespace: "shop", name });

function views(net: string): Record<"bookbuyer" | "bookstore" | "db", ProxyView> {
  const tcp = { [String(DB_PORT)]: "tcp" } as const;
  return {
    bookbuyer: {
      proxy: { id: "aaaaaaaa-0000-4000-8000-0000000000a1", service: svc("bookbuyer"), identity: sa("bookbuyer"), capture: "transparent" },
      inbound: { permissive: false, endpoints: [], rules: [] },
      outbound: [
        { service: svc("bookstore"), identity: sa("bookstore"), ports: [HTTP_PORT], endpoints: [{ ip: `${net}.2`, port: HTTP_PORT }] },
        { service: svc("db"), identity: sa("db"), ports: [DB_PORT], protocols: tcp, endpoints: [{ ip: `${net}.3`, port: DB_PORT }] },
      ],
    },
    bookstore: {
      proxy: { id: "bbbbbbbb-0000-4000-8000-0000000000b2", service: svc("bookstore"), identity: sa("bookstore") },
      inbound: {
        permissive: false, endpoints: [{ ip: `${net}.2`, port: HTTP_PORT }],
        // Only /books: anything else is answered 403 by bookstore's sidecar.
        rules: [{ trafficTarget: "shop/bookstore-access", sources: [sa("bookbuyer")], httpMatches: [{ name: "books", pathRegex: "/books.*", methods: ["GET"], headers: {} }], tcpPorts: [], anyTcpPort: false }],
      },
      outbound: [],
    },
    db: {
      proxy: { id: "bbbbbbbb-0000-4000-8000-0000000000b3", service: svc("db"), identity: sa("db") },
      inbound: {
        permissive: false, endpoints: [{ ip: `${net}.3`, port: DB_PORT }], protocols: tcp,
        rules: [{ trafficTarget: "shop/db-access", sources: [sa("bookbuyer")], httpMatches: [], tcpPorts: [DB_PORT], anyTcpPort: false }],
      },
      outbound: [],
    },
  };
}

interface HttpRun { statuses: Record<string, number>; error?: string }
interface FramedRun { name?: string; roundTrips?: number; error?: string }

/** The value of one sample line `name{labels} value`, labels in the order the sidecar writes them; undefined when absent. */
function sample(text: string, name: string, labels: Readonly<Record<string, string>>): number | undefined {
  const want = `${name}{${Object.entries(labels).map(([k, v]) => `${k}="${v}"`).join(",")}} `;
  const line = text.split("\n").find((l) => l.startsWith(want));
  return line === undefined ? undefined : Number(line.slice(want.length));
}

const peers = (direction: string, source: string, destination: string) => ({
  direction,
  source_namespace: "shop", source_service: source, source_identity: `shop/${source}`,
  destination_namespace: "shop", destination_service: destination, destination_identity: `shop/${destination}`,
});

test("sidecar scrape ports with a real Pipy: SMI-style labels on both sides of a call, response codes, a cumulative seconds histogram, TCP connections and bytes, metrics only, from another namespace", { timeout: 300_000 }, async (t) => {
  if (PIPY_BIN === undefined) return t.skip("PIPY_BIN not set: real Pipy tests skipped");
  const why = await netnsUnavailable();
  if (why !== undefined) return t.skip(why);
  const { a, b, net } = await twoHosts(t, "mfsm", [3]);
  const dir = await mkdtemp(join(tmpdir(), "mfsm-"));
  t.after(() => rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 }));
  await chmod(dir, 0o755);
  const ca = await createCertificateManager({ store: new MemoryStore(), logger: silentLogger() });
  const v = views(net);

  const apps = b.spawn([process.execPath, PEER, JSON.stringify({
    mode: "serve", http: [{ host: `${net}.2`, port: HTTP_PORT, name: "bookstore" }], framed: [{ host: `${net}.3`, port: DB_PORT, name: "db" }],
  })]);
  await lines(apps).line((l) => l === "listening");

  const logs: string[][] = [];
  let n = 0;
  // One sidecar from its rendered files, its certificate and the scrape file its host would add.
  const sidecar = async (host: NetnsHost, view: ProxyView, scrape: (admin: string) => readonly { path: string; content: Uint8Array }[]): Promise<void> => {
    n++;
    const driver = new PipyDriver({ trustDomain: "cluster.local", outboundPort: 15100 + n, healthPort: 15200 + n });
    const root = join(dir, `proxy-${n}`);
    await mkdir(join(root, dirname(CERT_PATHS.cert)), { recursive: true, mode: 0o755 });
    await chmod(root, 0o755);
    const cert = await ca.serviceCertificate(view.proxy.service);
    const admin = `127.0.0.1:${15300 + n}`;
    for (const f of [...driver.render(view).files, ...scrape(admin)]) await writeFile(join(root, f.path), f.content, { mode: 0o644 });
    await writeFile(join(root, CERT_PATHS.cert), cert.certificatePem, { mode: 0o644 });
    await writeFile(join(root, CERT_PATHS.key), cert.privateKeyPem, { mode: 0o644 });
    await writeFile(join(root, CERT_PATHS.ca), cert.caBundlePem, { mode: 0o644 });
    const child = host.spawn([PIPY_BIN, join(root, "main.js"), `--admin-port=${admin}`], { uid: PIPY_UID });
    const out = lines(child);
    logs.push(out.all);
    await out.line((l) => l.includes("meshfed: proxy") && l.includes("ready"), 30_000);
  };
  const podDriver = new PipyDriver({ trustDomain: "cluster.local" });
  // The pod's file names the pod's admin port (15000); here each sidecar has its own, so the address is swapped in.
  const podScrape = (admin: string) => podDriver.podFiles().map((f) => ({ path: f.path, content: Buffer.from(Buffer.from(f.content).toString("utf8").replace("127.0.0.1:15000", admin)) }));
  const vmScrape = (ip: string) => (admin: string) => scrapeFiles({ metricsAddress: `${ip}:${VM_METRICS_PORT}`, adminAddress: admin });
  await sidecar(a, v.bookbuyer, podScrape);
  await sidecar(b, v.bookstore, vmScrape(`${net}.2`));
  await sidecar(b, v.db, vmScrape(`${net}.3`));
  const why2 = () => logs.map((l) => l.slice(-10).join("\n")).join("\n---\n");

  const nat = (args: string) => a.exec(["iptables", "-t", "nat", ...args.split(" ")]);
  await nat("-N MESHFED_OUTPUT");
  await nat(`-A MESHFED_OUTPUT -m owner --uid-owner ${PIPY_UID} -j RETURN`);
  await nat("-A MESHFED_OUTPUT -d 127.0.0.0/8 -j RETURN");
  await nat("-A MESHFED_OUTPUT -p tcp -j REDIRECT --to-ports 15002");
  await nat("-A OUTPUT -p tcp -j MESHFED_OUTPUT");

  const client = async <T,>(mode: Record<string, unknown>): Promise<T> => {
    const out = await a.exec([process.execPath, PEER, JSON.stringify(mode)]).catch((e: Error) => JSON.stringify({ error: e.message }));
    return JSON.parse(out.trim().split("\n").pop() ?? "{}") as T;
  };
  const ok = await client<HttpRun>({ mode: "http", url: `http://${net}.2:${HTTP_PORT}/books`, count: 20 });
  assert.deepEqual(ok.statuses, { 200: 20 }, `${JSON.stringify(ok)}\n${why2()}`);
  const refused = await client<HttpRun>({ mode: "http", url: `http://${net}.2:${HTTP_PORT}/secret`, count: 3 });
  assert.deepEqual(refused.statuses, { 403: 3 }, JSON.stringify(refused));
  const framed = await client<FramedRun>({ mode: "framed", host: `${net}.3`, port: DB_PORT, roundTrips: 50 });
  assert.deepEqual([framed.error, framed.name, framed.roundTrips], [undefined, "db", 50]);

  // Prometheus in the other namespace: curl as uid 65534 in a (not captured), as root in b.
  const curl = (host: NetnsHost, args: readonly string[]) => host.exec([...(host === a ? ["setpriv", `--reuid=${PIPY_UID}`, `--regid=${PIPY_UID}`, "--clear-groups"] : []), "curl", "-sS", "--max-time", "10", ...args]);
  const scrape = (host: NetnsHost, target: string) => curl(host, [`http://${target}${SIDECAR_METRICS_PATH}`]);
  const bookbuyer = await scrape(b, `${net}.1:${SIDECAR_METRICS_PORT}`);
  const bookstore = await scrape(a, `${net}.2:${VM_METRICS_PORT}`);
  const db = await scrape(a, `${net}.3:${VM_METRICS_PORT}`);

  t.diagnostic(`bookstore's scrape, its mesh lines:\n${bookstore.split("\n").filter((l) => l.startsWith("meshfed_sidecar_")).slice(0, 6).join("\n")}`);

  // Both sides of the HTTP calls, each code counted; the caller's service came with the request.
  for (const [text, direction] of [[bookbuyer, "outbound"], [bookstore, "inbound"]] as const) {
    const labels = peers(direction, "bookbuyer", "bookstore");
    assert.equal(sample(text, "meshfed_sidecar_requests_total", { ...labels, response_code: "200" }), 20, `${direction}\n${text}`);
    assert.equal(sample(text, "meshfed_sidecar_requests_total", { ...labels, response_code: "403" }), 3, direction);
    // A histogram Prometheus can use: buckets cumulative, ending in +Inf = count; seconds, not milliseconds.
    const buckets = text.split("\n").filter((l) => l.startsWith(`meshfed_sidecar_request_duration_seconds_bucket{${Object.entries(labels).map(([k, x]) => `${k}="${x}"`).join(",")},le=`));
    const counts = buckets.map((l) => Number(l.split(" ").pop()));
    assert.ok(buckets.length >= 10, buckets.join("\n"));
    assert.ok(counts.every((c, i) => i === 0 || c >= counts[i - 1]!), `cumulative: ${counts.join(" ")}`);
    assert.match(buckets.at(-1)!, /le="\+Inf"\} 23$/, direction);
    assert.equal(sample(text, "meshfed_sidecar_request_duration_seconds_count", labels), 23, direction);
    const sum = sample(text, "meshfed_sidecar_request_duration_seconds_sum", labels)!;
    assert.ok(sum >= 0 && sum < 23 * 2, `23 local calls take well under 2 s each: sum ${sum} s`);
    assert.doesNotMatch(text, /_ms_bucket/, "no millisecond histogram");
  }

  // TCP: one connection each side, and the bytes both ways (50 frames of "q<i>" out, greeting + 50 answers back).
  for (const [text, direction] of [[bookbuyer, "outbound"], [db, "inbound"]] as const) {
    const labels = peers(direction, "bookbuyer", "db");
    if (direction === "inbound") Object.assign(labels, { source_service: "unknown" });
    assert.equal(sample(text, "meshfed_sidecar_tcp_connections_total", labels), 1, `${direction}\n${text}`);
    const received = sample(text, "meshfed_sidecar_tcp_received_bytes_total", labels)!;
    const sent = sample(text, "meshfed_sidecar_tcp_sent_bytes_total", labels)!;
    const frames = Array.from({ length: 50 }, (_x, i) => 4 + `q${i}`.length).reduce((x, y) => x + y, 0);
    assert.equal(received, frames, `${direction}: bytes from bookbuyer to db`);
    assert.equal(sent, 4 + "hello from db".length + Array.from({ length: 50 }, (_x, i) => 4 + `db:q${i}`.length).reduce((x, y) => x + y, 0), `${direction}: bytes back`);
  }

  // Metrics only: another path, another method, the admin service's own paths.
  const status = (host: NetnsHost, args: readonly string[]) => curl(host, ["-o", "/dev/null", "-w", "%{http_code}", ...args]);
  const target = `http://${net}.1:${SIDECAR_METRICS_PORT}`;
  assert.equal(await status(b, [`${target}/metrics`]), "200");
  assert.equal(await status(b, [`${target}/api/v1/status`]), "404");
  assert.equal(await status(b, [`${target}/`]), "404");
  assert.equal(await status(b, ["-X", "POST", `${target}${SIDECAR_METRICS_PATH}`]), "405");
  // Pipy's admin port itself stays on loopback: not reachable from the other namespace.
  await assert.rejects(status(b, [`http://${net}.1:15301/metrics`]), "the admin port is not on the pod's address");
});
