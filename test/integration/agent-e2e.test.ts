// Controller and agents as real processes on loopback addresses that match
// the hosts file, so that the three legs of a participant come from three
// different places: the CA's registry, the gRPC stream and the hosts file.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { getJson, startControllerProcess, type ControllerProcess } from "../helpers/controller-process.js";
import { freePort, startAgentProcess, type AgentProcess } from "../helpers/agent-process.js";
import { waitFor } from "../helpers/wait.js";

const HOSTS = `hosts:
  - name: web-1
    address: 127.0.0.2
    services: [{ name: web, namespace: shop, port: 8080 }]
  - name: db-1
    address: 127.0.0.3
    services: [{ name: db, namespace: shop, port: 5432 }]
`;

interface Participants {
  participants: Array<{ service: string; proxyId: string }>;
  incomplete: Array<{ kind: string; service: string; missing: string[] }>;
}

async function post(url: string, body: unknown): Promise<unknown> {
  const res = await fetch(url, { method: "POST", body: JSON.stringify(body), headers: { "content-type": "application/json" } });
  assert.ok(res.ok, `${url} -> ${res.status}`);
  return res.json();
}

test("agents enroll, connect and become participants; they survive a controller kill -9 and an agent restart during the outage", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "meshfed-e2e-"));
  const processes: Array<ControllerProcess | AgentProcess> = [];
  // Processes first: one still writing into the directory would make its removal fail.
  t.after(async () => {
    for (const p of processes) await p.stop("SIGKILL");
    await rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
  });
  await writeFile(join(dir, "hosts.yaml"), HOSTS);
  const grpcPort = await freePort();
  const controllerArgs = ["--data-dir", join(dir, "controller"), "--hosts", join(dir, "hosts.yaml"), "--grpc-address", `127.0.0.1:${grpcPort}`];

  let ctl = await startControllerProcess(controllerArgs);
  processes.push(ctl);
  const ca = await (await fetch(`${ctl.url}/api/v1/ca`)).text();
  await writeFile(join(dir, "ca.pem"), ca);

  const agents: AgentProcess[] = [];
  for (const [service, address, port] of [["shop/web", "127.0.0.2", 8080], ["shop/db", "127.0.0.3", 5432]] as const) {
    const { token } = (await post(`${ctl.url}/api/v1/tokens`, { service, ttl: "10m", uses: 1 })) as { token: string };
    const home = join(dir, service.replace("/", "-"));
    await mkdir(home);
    await writeFile(join(home, "token"), `${token}\n`, { mode: 0o600 });
    const agent = await startAgentProcess([
      "--controller", `127.0.0.1:${grpcPort}`, "--ca-file", join(dir, "ca.pem"), "--token-file", join(home, "token"),
      "--data-dir", join(home, "data"), "--service", service, "--endpoint", `${address}:${port}`, "--host-address", address, "--no-proxy",
    ]);
    processes.push(agent);
    agents.push(agent);
  }
  for (const a of agents) await a.waitFor((s) => s.state === "CONNECTED" && s.configVersion >= 1 && s.certificates.service !== null);

  const full = await waitFor(async () => {
    const p = (await getJson(`${ctl.url}/api/v1/participants`)) as Participants;
    return p.participants.length === 2 && p;
  }, { what: "two participants", timeoutMs: 60_000 });
  assert.deepEqual(full.participants.map((p) => p.service).sort(), ["shop/db", "shop/web"]);
  assert.deepEqual(full.incomplete, []);
  const proxies = await waitFor(async () => {
    const p = (await getJson(`${ctl.url}/api/v1/proxies`)) as Array<{ lastAck: { ok: boolean } | null }>;
    return p.length === 2 && p.every((x) => x.lastAck?.ok === true) && p;
  }, { what: "two proxies that acknowledged their config", timeoutMs: 60_000 });
  assert.equal(proxies.length, 2);
  const certsBefore = (await getJson(`${ctl.url}/api/v1/certificates`)) as Array<{ serial: string; kind: string }>;

  // The controller dies hard. An agent restarted meanwhile serves its last config from disk.
  assert.equal(await ctl.stop("SIGKILL"), "SIGKILL");
  const web = agents[0]!;
  const webStatus = (await web.status())!;
  await web.stop("SIGTERM");
  const webAgain = await startAgentProcess([
    "--controller", `127.0.0.1:${grpcPort}`, "--ca-file", join(dir, "ca.pem"), "--data-dir", join(dir, "shop-web", "data"),
    "--service", "shop/web", "--endpoint", "127.0.0.2:8080", "--host-address", "127.0.0.2", "--no-proxy",
  ]);
  processes.push(webAgain);
  const offline = await webAgain.waitFor((s) => s.configVersion === webStatus.configVersion);
  assert.notEqual(offline.state, "CONNECTED");
  const manifest = await fetch(webAgain.repoUrl);
  assert.equal(manifest.status, 200, "the local repo serves the last good config while the controller is away");
  assert.match(await manifest.text(), /^\/main\.js\n(.*\n)*\/config\.json/, "the Pipy codebase: entry script first");

  // The controller comes back on the same data dir and port: agents reconnect without enrolling again.
  ctl = await startControllerProcess(controllerArgs);
  processes.push(ctl);
  await webAgain.waitFor((s) => s.state === "CONNECTED", 60_000);
  await agents[1]!.waitFor((s) => s.state === "CONNECTED", 60_000);
  const again = await waitFor(async () => {
    const p = (await getJson(`${ctl.url}/api/v1/participants`)) as Participants;
    return p.participants.length === 2 && p;
  }, { what: "two participants after the controller restart", timeoutMs: 60_000 });
  assert.deepEqual(again.participants.map((p) => p.proxyId).sort(), full.participants.map((p) => p.proxyId).sort(), "same proxies, no re-enrollment");
  const certsAfter = (await getJson(`${ctl.url}/api/v1/certificates`)) as Array<{ serial: string; kind: string }>;
  assert.deepEqual(certsAfter.map((c) => c.serial).sort(), certsBefore.map((c) => c.serial).sort(), "nothing re-issued");
});
