// A small transparent mesh in two network namespaces, for the real-Pipy
// data-plane tests and the bench (issues 14 and 15). Host "a" runs bookbuyer:
// its applications are unchanged, and nat OUTPUT rules written here by hand
// (the shape of the agent's MESHFED_OUTPUT chain; the agent's own rule
// manager is tested elsewhere) redirect their TCP to Pipy's transparent
// listener, except Pipy's own uid and loopback. Host "b" runs three
// services behind their sidecars (bookstore over HTTP; db-a and db-b, a
// framed TCP protocol, split 70/30 behind shop/db) and one server outside
// the mesh. Views are built by hand with the fields the other helpers fill
// (capture, vip, protocols); certificates come from the real CA.
import { chmod, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { ChildProcess } from "node:child_process";
import { silentLogger } from "../../src/common/logger.js";
import type { ProxyView } from "../../src/controller/catalog/types.js";
import { createCertificateManager } from "../../src/controller/certificates/index.js";
import type { CertificateWithKey } from "../../src/controller/certificates/types.js";
import { PipyDriver, CERT_PATHS } from "../../src/controller/drivers/pipy/pipy-driver.js";
import { MemoryStore } from "./certificates.js";
import { lines, twoHosts, type Cleanup, type NetnsHost } from "./netns.js";

export const PIPY_UID = 65534;

/**
 * Writes a rendered codebase and its service certificate under `root`, all
 * readable by PIPY_UID (Pipy runs as nobody, so that capture can tell its own
 * connections apart), starts Pipy on `host` and waits until it says it is
 * ready. Its output is kept in `logs` under `name`, for a failing test to show.
 */
export async function startNetnsPipy(host: NetnsHost, o: {
  readonly pipy: string;
  readonly root: string;
  readonly files: ReturnType<PipyDriver["render"]>["files"];
  readonly cert: CertificateWithKey;
  readonly admin: number;
  readonly name: string;
  readonly logs: { name: string; all: string[] }[];
}): Promise<ChildProcess> {
  await mkdir(join(o.root, dirname(CERT_PATHS.cert)), { recursive: true, mode: 0o755 });
  await chmod(o.root, 0o755);
  for (const f of o.files) await writeFile(join(o.root, f.path), f.content, { mode: 0o644 });
  await writeFile(join(o.root, CERT_PATHS.cert), o.cert.certificatePem, { mode: 0o644 });
  await writeFile(join(o.root, CERT_PATHS.key), o.cert.privateKeyPem, { mode: 0o644 });
  await writeFile(join(o.root, CERT_PATHS.ca), o.cert.caBundlePem, { mode: 0o644 });
  const child = host.spawn([o.pipy, join(o.root, "main.js"), `--admin-port=127.0.0.1:${o.admin}`], { uid: PIPY_UID });
  const out = lines(child);
  o.logs.push({ name: o.name, all: out.all });
  await out.line((l) => l.includes("meshfed: proxy") && l.includes("ready"), 30_000);
  return child;
}
export const VIP = { bookstore: "240.240.0.10", db: "240.240.0.11" } as const;
export const PORTS = { http: 14001, framed: 3306, outside: 7070, transparent: 15002 } as const;
const PEER = fileURLToPath(new URL("./netns-peer.js", import.meta.url));

const sa = (name: string) => ({ kind: "ServiceAccount" as const, namespace: "shop", name });
const svc = (name: string) => ({ namespace: "shop", name });

export interface Mesh {
  readonly a: NetnsHost;
  readonly b: NetnsHost;
  /** b's addresses: bookstore, db-a and the outside server on .2, db-b on .3. */
  readonly b2: string;
  readonly b3: string;
  /**
   * Runs netns-peer.js in host a and returns its JSON line. As root (the
   * default) it is captured; as PIPY_UID it is not (a direct baseline).
   */
  client<T>(mode: Record<string, unknown>, options?: { uid?: number }): Promise<T>;
  /** bookbuyer's explicit outbound listener (Host-header routing), in host a. */
  explicit(): string;
  /** Replaces bookbuyer's sidecar with one rendered for another passthrough setting. */
  restartClientProxy(passthrough: boolean): Promise<void>;
  /** The last lines every sidecar logged, for failure messages. */
  logs(): string;
  /** The Pipy admin /metrics text of bookbuyer's sidecar. */
  clientMetrics(): Promise<string>;
}

function bookbuyerView(net: string, passthrough: boolean): ProxyView {
  const tcp = { "3306": "tcp" } as const;
  return {
    proxy: { id: "aaaaaaaa-0000-4000-8000-000000000001", service: svc("bookbuyer"), identity: sa("bookbuyer"), capture: "transparent", ...(passthrough ? {} : { outboundPassthrough: false }) },
    inbound: { permissive: false, endpoints: [], rules: [] },
    outbound: [
      { service: svc("bookstore"), identity: sa("bookstore"), ports: [PORTS.http], endpoints: [{ ip: `${net}.2`, port: PORTS.http }], vip: VIP.bookstore },
      {
        service: svc("db"), identity: sa("db"), ports: [PORTS.framed], protocols: tcp, endpoints: [], vip: VIP.db,
        split: {
          trafficSplit: "shop/db-split", matches: [],
          backends: [
            { service: svc("db-a"), weight: 70, endpoints: [{ ip: `${net}.2`, port: PORTS.framed }], protocols: tcp },
            { service: svc("db-b"), weight: 30, endpoints: [{ ip: `${net}.3`, port: PORTS.framed }], protocols: tcp },
          ],
        },
      },
      { service: svc("db-a"), identity: sa("db-a"), ports: [PORTS.framed], protocols: tcp, endpoints: [{ ip: `${net}.2`, port: PORTS.framed }] },
    ],
  };
}

function serverView(name: string, ip: string, port: number, tcp: boolean): ProxyView {
  return {
    proxy: { id: `bbbbbbbb-0000-4000-8000-0000000000${name.length}${ip.slice(-1)}`, service: svc(name), identity: sa(name) },
    inbound: {
      permissive: false,
      endpoints: [{ ip, port }],
      ...(tcp ? { protocols: { [String(port)]: "tcp" as const } } : {}),
      rules: [{
        trafficTarget: `shop/${name}-access`, sources: [sa("bookbuyer")],
        httpMatches: tcp ? [] : [{ name: "all", methods: ["*"], headers: {} }],
        tcpPorts: tcp ? [port] : [], anyTcpPort: false,
      }],
    },
    outbound: [],
  };
}

export async function startMesh(t: Cleanup, pipy: string, prefix = "mfdp"): Promise<Mesh> {
  const { a, b, net } = await twoHosts(t, prefix, [3]);
  const dir = await mkdtemp(join(tmpdir(), `${prefix}-mesh-`));
  t.after(() => rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 }));
  // Pipy runs as nobody: it must read its codebase.
  await chmod(dir, 0o755);
  const ca = await createCertificateManager({ store: new MemoryStore(), logger: silentLogger() });

  const apps = b.spawn([process.execPath, PEER, JSON.stringify({
    mode: "serve",
    http: [{ host: `${net}.2`, port: PORTS.http, name: "bookstore" }, { host: `${net}.2`, port: PORTS.outside, name: "outside" }],
    framed: [{ host: `${net}.2`, port: PORTS.framed, name: "db-a" }, { host: `${net}.3`, port: PORTS.framed, name: "db-b" }],
  })]);
  await lines(apps).line((l) => l === "listening");

  let n = 0;
  const logs: { name: string; all: string[] }[] = [];
  const startProxy = async (host: NetnsHost, view: ProxyView): Promise<{ child: ChildProcess; admin: number; explicit: string }> => {
    n++;
    const ports = { outboundPort: 15100 + n, healthPort: 15200 + n, transparentPort: PORTS.transparent };
    const driver = new PipyDriver({ trustDomain: "cluster.local", ...ports });
    const cert = await ca.serviceCertificate(view.proxy.service);
    const admin = 15300 + n;
    const child = await startNetnsPipy(host, { pipy, root: join(dir, `proxy-${n}`), files: driver.render(view).files, cert, admin, name: `${view.proxy.service.name}#${n}`, logs });
    return { child, admin, explicit: `127.0.0.1:${ports.outboundPort}` };
  };

  await startProxy(b, serverView("bookstore", `${net}.2`, PORTS.http, false));
  await startProxy(b, serverView("db-a", `${net}.2`, PORTS.framed, true));
  await startProxy(b, serverView("db-b", `${net}.3`, PORTS.framed, true));
  let client = await startProxy(a, bookbuyerView(net, true));

  // The capture rules, by hand, in host a only.
  const nat = (args: string) => a.exec(["iptables", "-t", "nat", ...args.split(" ")]);
  await nat("-N MESHFED_OUTPUT");
  await nat(`-A MESHFED_OUTPUT -m owner --uid-owner ${PIPY_UID} -j RETURN`);
  await nat("-A MESHFED_OUTPUT -d 127.0.0.0/8 -j RETURN");
  await nat(`-A MESHFED_OUTPUT -p tcp -j REDIRECT --to-ports ${PORTS.transparent}`);
  await nat("-A OUTPUT -p tcp -j MESHFED_OUTPUT");

  const runClient = async <T,>(mode: Record<string, unknown>, options: { uid?: number } = {}): Promise<T> => {
    const drop = options.uid === undefined ? [] : ["setpriv", `--reuid=${options.uid}`, `--regid=${options.uid}`, "--clear-groups"];
    const out = await a.exec([...drop, process.execPath, PEER, JSON.stringify(mode)]).catch((e: Error) => JSON.stringify({ error: e.message }));
    return JSON.parse(out.trim().split("\n").pop() ?? "{}") as T;
  };
  return {
    a, b, b2: `${net}.2`, b3: `${net}.3`,
    client: runClient,
    explicit: () => client.explicit,
    logs: () => logs.map((l) => `--- ${l.name}\n${l.all.slice(-15).join("\n")}`).join("\n"),
    restartClientProxy: async (passthrough) => {
      const old = client.child;
      old.kill("SIGKILL");
      if (old.exitCode === null && old.signalCode === null) await new Promise((r) => old.once("exit", r));
      client = await startProxy(a, bookbuyerView(net, passthrough));
    },
    clientMetrics: async () => {
      const r = await runClient<{ statuses: Record<string, number>; bodies: Record<string, number> }>({ mode: "http", url: `http://127.0.0.1:${client.admin}/metrics`, count: 1 });
      return Object.keys(r.bodies ?? {})[0] ?? "";
    },
  };
}
