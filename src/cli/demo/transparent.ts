/**
 * `meshfed demo --transparent`: the unchanged-app path, shown. The
 * controller runs in this process; two network namespaces are bookbuyer's
 * and bookstore-v1's hosts, each with a real agent (transparent capture, a
 * real Pipy) reaching the controller through a relay; bookbuyer's agent
 * also answers DNS for mesh names. A bookstore app that knows nothing about
 * the mesh serves in its host, and a bookbuyer loop calls it by its mesh
 * name with plain http.get and prints what happened. Ctrl-C stops the
 * agents gracefully (rules and resolv.conf restored, which is checked and
 * printed), then deletes the namespaces.
 */
import { chmod, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import type { Logger } from "pino";
import type { ControllerConfig } from "../../controller/config/schema.js";
import { startController } from "../../controller/main.js";
import { closeOnSignals } from "../signals.js";
import { cliInvocation, whereToLook } from "../commands/controller.js";
import { startDemoAgent, waitForAgentReady, AGENT_STATUS_URL, DEMO_PROXY_UID, type DemoAgentSpec, type StartedAgent } from "./agents.js";
import { stopChild, waitForLine } from "./child.js";
import { createDemoHosts, type DemoHost } from "./hosts.js";
import { findOnPath } from "./preflight.js";
import { startGrpcRelay } from "./relay.js";
import { Teardown } from "./teardown.js";

const BOOKSTORE_APP = fileURLToPath(new URL("./bookstore-app.js", import.meta.url));
const BOOKBUYER_APP = fileURLToPath(new URL("./bookbuyer-app.js", import.meta.url));
const PORT = 14001;
/**
 * The TrafficSplit root that config/smi/traffic-split.yaml defines; its
 * bookstore-v2 backend has no host in this demo, so every request goes to
 * v1. The first path matches the `buy-a-book` route bookbuyer is allowed
 * (config/smi/access.yaml); the second is in no route: refused.
 */
const BOOKSTORE = `http://bookstore.bookstore.svc.cluster.local:${PORT}`;
const CALLS = [`${BOOKSTORE}/buy-a-book/new`, `${BOOKSTORE}/books`];

export interface TransparentDemoOptions {
  readonly config: ControllerConfig;
  readonly logger: Logger;
  readonly pipy: string;
  /** Namespace names start with this (tests give their own prefix). */
  readonly netnsPrefix: string;
}

const hostsYaml = (buyer: DemoHost, store: DemoHost) => `# Written by meshfed demo --transparent: the two demo hosts (network namespaces) on their veth addresses.
hosts:
  - name: bookbuyer-1
    address: ${buyer.address}
    services:
      - { name: bookbuyer, namespace: bookbuyer, port: ${PORT} }
  - name: bookstore-v1-1
    address: ${store.address}
    services:
      - { name: bookstore-v1, namespace: bookstore, port: ${PORT} }
`;

export async function runTransparentDemo(o: TransparentDemoOptions): Promise<void> {
  const out = (s: string) => process.stdout.write(s);
  const teardown = new Teardown(o.logger.child({ component: "demo" }));
  closeOnSignals(() => teardown.close(), o.config.shutdownTimeout + 40_000, o.logger);
  try {
    await start(o, teardown, out);
  } catch (err) {
    // A start cut short by Ctrl-C is not an error; any other failure still removes what it made.
    const interrupted = teardown.closing;
    await teardown.close();
    if (!interrupted) throw err;
  }
}

async function start(o: TransparentDemoOptions, teardown: Teardown, out: (s: string) => void): Promise<void> {
  const names: string[] = [];
  // Registered first, so it runs last: after everything else is gone.
  await teardown.add("report", async () => out(`demo stopped; namespaces ${names.join(", ")} deleted\n`));
  const { buyer, store } = await createDemoHosts(teardown, o.netnsPrefix);
  names.push(buyer.name, store.name);
  const logDir = join(o.config.dataDir, "..", "transparent");
  await mkdir(logDir, { recursive: true });
  const hostsFile = join(logDir, "hosts.yaml");
  await writeFile(hostsFile, hostsYaml(buyer, store));
  const config: ControllerConfig = { ...o.config, providers: { ...o.config.providers, onprem: { hostsFile, debounce: o.config.providers.onprem?.debounce ?? 100 } } };
  const controller = await startController(config, o.logger);
  await teardown.add("controller", () => controller.close());
  out(whereToLook(controller.adminUrl, controller.grpcAddress, config));
  const grpcPort = Number(controller.grpcAddress.split(":").pop());
  await startGrpcRelay(teardown, grpcPort, [buyer, store]);

  // The hosts as they were before any agent: compared again after the agents' graceful stop.
  // ip6tables' filter table too where it exists: the agents guard IPv6 inbound there.
  const ip6 = (await findOnPath("ip6tables-save")) !== undefined;
  const snapshots = [
    ...[buyer, store].map((h) => ({ what: `${h.name} nat table`, read: async () => strip(await h.exec(["iptables-save", "-t", "nat"])) })),
    ...(ip6 ? [buyer, store].map((h) => ({ what: `${h.name} ip6tables filter table`, read: async () => strip(await h.exec(["ip6tables-save", "-t", "filter"])) })) : []),
    { what: `${buyer.name} /etc/resolv.conf`, read: () => buyer.exec(["cat", "/etc/resolv.conf"]) },
  ];
  const before = await Promise.all(snapshots.map((x) => x.read()));
  await teardown.add("restore check", async () => {
    for (const [i, x] of snapshots.entries()) {
      const same = (await x.read()) === before[i];
      out(`agents stopped: ${x.what} ${same ? "is as before the agent" : "DIFFERS from before the agent"}\n`);
    }
  });

  const home = await mkdtemp(join(tmpdir(), "meshfed-demo-agents-"));
  await teardown.add("agents' data", () => rm(home, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 }));
  // Pipy runs as nobody with the agent's data dir as its working directory.
  await chmod(home, 0o755);
  await writeFile(join(home, "ca.pem"), await (await fetch(`${controller.adminUrl}/api/v1/ca`)).text());

  const app = store.spawn([process.execPath, BOOKSTORE_APP, store.address, String(PORT), "bookstore-v1"]);
  await teardown.add("bookstore app", () => stopChild(app, "SIGTERM"));
  await waitForLine(app, "ready", 10_000);

  const ctx = { home, logDir, adminUrl: controller.adminUrl, grpcPort, pipy: o.pipy };
  const specs: DemoAgentSpec[] = [
    { name: "bookstore-v1", service: "bookstore/bookstore-v1", host: store, port: PORT, dns: false },
    { name: "bookbuyer", service: "bookbuyer/bookbuyer", host: buyer, port: PORT, dns: true },
  ];
  const started: StartedAgent[] = [];
  // One step for all: each agent's stop waits for its Pipy, and they need not wait for each other.
  await teardown.add("agents", () => Promise.all(started.map((a) => a.stop())));
  for (const s of specs) await startDemoAgent(s, ctx, started);
  for (const [i, s] of specs.entries()) await waitForAgentReady(s, started[i]!, 90_000);

  out(guide(controller.adminUrl, buyer, store, logDir));
  const loop = buyer.spawn([process.execPath, BOOKBUYER_APP, ...CALLS]);
  await teardown.add("bookbuyer app", () => stopChild(loop, "SIGTERM"));
  createInterface({ input: loop.stdout! }).on("line", (l) => out(`${l}\n`));
  loop.stderr!.resume();
}

/** iptables-save's comment lines carry a timestamp: not part of the table. */
const strip = (table: string) => table.split("\n").filter((l) => !l.startsWith("#")).join("\n");

function guide(adminUrl: string, buyer: DemoHost, store: DemoHost, logDir: string): string {
  const admin = adminUrl === "http://127.0.0.1:15000" ? "" : ` --admin ${adminUrl}`;
  const cli = cliInvocation();
  const nsenter = buyer.enter.join(" ");
  const rows = [
    ["bookbuyer's host", `${buyer.name} at ${buyer.address} (own /etc: its agent hooks a private resolv.conf)`],
    ["bookstore-v1's host", `${store.name} at ${store.address} (an unchanged HTTP app on ${store.address}:${PORT})`],
    ["capture rules", `ip netns exec ${buyer.name} iptables-save -t nat   (or ${store.name})`],
    ["agent status", `ip netns exec ${buyer.name} curl -s ${AGENT_STATUS_URL}   (or ${store.name})`],
    ["bookbuyer's resolver", `${nsenter} cat /etc/resolv.conf`],
    ["proxies", `${cli} proxies${admin}`],
    ["proxy config", `${cli} proxy config <id>${admin}`],
    ["logs, hosts file", logDir],
  ];
  const width = Math.max(...rows.map((r) => r[0]!.length));
  return `transparent demo ready: two agents with --capture transparent, Pipy as uid ${DEMO_PROXY_UID}, bookbuyer's agent answers DNS for mesh names\n` +
    rows.map(([k, v]) => `  ${k!.padEnd(width)}  ${v}`).join("\n") + "\n" +
    `bookbuyer, an app that knows nothing about the mesh, calls these with plain http.get every second\n` +
    `(/buy-a-book/new is allowed by TrafficTarget bookbuyer-to-bookstore-v1; /books is in no route, so refused). Ctrl-C stops.\n`;
}
