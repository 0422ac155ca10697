// Issue 18 item 6 end to end on loopback, real gRPC with mTLS: three agents
// of one service, each with its probe declared in a different place (the
// agent's config, its join token, the hosts file; the hosts file also names a
// failing probe for the first two, which must lose). Their apps answer
// /healthz; one starts answering 500 → the catalog, participants and a
// caller's rendered config withdraw it with the reason; 200 again → back.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { startAgent } from "../../src/agent/index.js";
import { silentLogger } from "../../src/common/logger.js";
import type { CatalogSnapshot, ParticipantsReport } from "../../src/controller/catalog/types.js";
import { freePort } from "../helpers/agent-process.js";
import { testConfig } from "../helpers/agent-testbed.js";
import { startTestController } from "../helpers/in-process-controller.js";
import { waitFor } from "../helpers/wait.js";
import { loopbackNet } from "../helpers/loopback-net.js";

const host = loopbackNet();
const IP = { a: host(2), b: host(3), c: host(4), caller: host(10) } as const;

async function app(t: import("node:test").TestContext, ip: string, port: number): Promise<{ setStatus(s: number): void }> {
  let status = 200;
  const server: Server = createServer((req, res) => {
    res.statusCode = req.url === "/healthz" ? status : 404;
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(port, ip, resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { setStatus: (s) => (status = s) };
}

test("probes from agent config, token and hosts file reach the catalog; an app answering 500 is withdrawn with why, and returns", async (t) => {
  const port = await freePort(IP.a);
  // The hosts file declares a probe for every host; for a and b it must lose (agent config, token), c uses it.
  const entry = (name: string, ip: string, path: string) =>
    `  - name: ${name}\n    address: ${ip}\n    services: [{ name: web, namespace: shop, port: ${port}, probe: { type: http, path: ${path}, periodSeconds: 0.5, timeoutSeconds: 0.5, failureThreshold: 2 } }]\n`;
  const hosts = `hosts:\n${entry("a", IP.a, "/nope")}${entry("b", IP.b, "/nope")}${entry("c", IP.c, "/healthz")}` +
    `  - name: caller\n    address: ${IP.caller}\n    services: [{ name: caller, namespace: shop, port: 8080 }]\n`;
  const ctl = await startTestController(t, { hosts, patch: (c) => ({ ...c, driver: "json", mesh: { ...c.mesh, permissive: true } }) });
  const caPem = await ctl.api<string>("/api/v1/ca");
  const apps = { a: await app(t, IP.a, port), b: await app(t, IP.b, port), c: await app(t, IP.c, port) };
  // Short periods keep the test quick; a check on loopback is far below the timeout even on a loaded machine.
  const fast = { periodSeconds: 0.5, timeoutSeconds: 0.5, failureThreshold: 2 };

  const start = async (name: string, ip: string, service: string, endpoint: string, extra: { probes?: unknown[]; tokenProbes?: unknown[] } = {}) => {
    const dir = join(ctl.dir, "agents", name);
    await mkdir(dir, { recursive: true });
    const { token } = await ctl.api<{ token: string }>("/api/v1/tokens", { service, ttl: "10m", uses: 1, ...(extra.tokenProbes ? { probes: extra.tokenProbes } : {}) });
    const config = await testConfig(dir, caPem, ctl.grpcAddress, {
      hostAddresses: [ip], endpoints: [endpoint], service, healthInterval: "30s",
      ...(extra.probes ? { probes: extra.probes as never } : {}),
    });
    await writeFile(config.tokenFile!, `${token}\n`);
    const agent = await startAgent(config, silentLogger());
    t.after(async () => void (await agent.close()));
    return agent;
  };
  await start("a", IP.a, "shop/web", `${IP.a}:${port}`, { probes: [{ port, type: "http", path: "/healthz", ...fast }] });
  await start("b", IP.b, "shop/web", `${IP.b}:${port}`, { tokenProbes: [{ port, type: "http", path: "/healthz", ...fast }] });
  await start("c", IP.c, "shop/web", `${IP.c}:${port}`);
  const caller = await start("caller", IP.caller, "shop/caller", `${IP.caller}:8080`);

  const web = async () => (await ctl.api<CatalogSnapshot>("/api/v1/catalog")).services.find((s) => s.name === "web")!.endpoints;
  const states = async () => Object.fromEntries((await web()).map((e) => [e.ip, `${e.health?.state ?? "-"}/${e.health?.source ?? "-"}`]));
  await waitFor(async () => {
    const s = await states();
    return s[IP.a] === "healthy/agent" && s[IP.b] === "healthy/token" && s[IP.c] === "healthy/hosts" ? s : undefined;
  }, { what: "every endpoint healthy, each probe from its own source", timeoutMs: 60_000 });

  /** The web endpoints in the caller's rendered config (json driver: the ProxyView). */
  const offered = async () => {
    const body = await ctl.api<{ files: Array<{ path: string; content: string }> }>(`/api/v1/proxies/config?id=${caller.proxyId!}`);
    const { view } = JSON.parse(body.files.find((f) => f.path === "/config.json")!.content) as { view: { outbound: Array<{ service: { name: string }; endpoints: Array<{ ip: string }> }> } };
    return (view.outbound.find((o) => o.service.name === "web")?.endpoints ?? []).map((e) => e.ip).sort();
  };
  assert.deepEqual(await offered(), [IP.a, IP.b, IP.c].sort());

  apps.a.setStatus(500);
  const bad = await waitFor(async () => (await web()).find((e) => e.ip === IP.a && e.health?.state === "unhealthy"), { what: "a unhealthy", timeoutMs: 60_000 });
  assert.equal(bad.health!.reason, "probe failed: HTTP 500 after 2 tries");
  assert.deepEqual(await waitFor(async () => {
    const ips = await offered();
    return ips.includes(IP.a) ? undefined : ips;
  }, { what: "a out of the caller's config", timeoutMs: 60_000 }), [IP.b, IP.c].sort());
  const participants = await ctl.api<ParticipantsReport>("/api/v1/participants");
  const pa = participants.participants.find((p) => p.endpoints.some((e) => e.ip === IP.a));
  assert.equal(pa?.endpoints[0]?.health?.state, "unhealthy", "still a participant (its proxy serves), with why");
  const proxies = await ctl.api<Array<{ endpointHealth?: Array<{ ip: string; state: string }> }>>("/api/v1/proxies");
  assert.ok(proxies.some((p) => p.endpointHealth?.some((h) => h.ip === IP.a && h.state === "unhealthy")), "GET /api/v1/proxies shows the agent's report");

  apps.a.setStatus(200);
  await waitFor(async () => ((await offered()).includes(IP.a) ? true : undefined), { what: "a back in the caller's config", timeoutMs: 60_000 });
  assert.equal((await web()).find((e) => e.ip === IP.a)?.health?.state, "healthy");
});
