// The status page at /ui, in a real headless Chromium against a running
// controller with two connected agents: the rows come from the admin API, the
// admin token is honoured, a hosts-file edit shows up without a reload, and
// values from files never become markup. A screenshot is kept in a temp dir.
import test from "node:test";
import assert from "node:assert/strict";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { startAgent } from "../../src/agent/index.js";
import { silentLogger } from "../../src/common/logger.js";
import { testConfig } from "../helpers/agent-testbed.js";
import { tempDir } from "../helpers/temp-dir.js";
import { launchChromium, type BrowserPage } from "../helpers/chromium.js";
import { startTestController } from "../helpers/in-process-controller.js";
import { scaled, waitFor } from "../helpers/wait.js";

const HOSTS = `hosts:
  - { name: s1, address: 127.0.0.21, services: [{ name: bookstore, namespace: shop, port: 14001 }] }
  - { name: b1, address: 127.0.0.10, services: [{ name: bookbuyer, namespace: shop, port: 8080 }] }
`;

/**
 * Polls an expression in the page until it is truthy (the page refreshes every
 * 2 s); while the document is still loading it counts as not yet.
 */
async function pageUntil<T>(page: BrowserPage, expression: string, what: string, timeoutMs = 20_000): Promise<T> {
  const guarded = `(() => { try { return (${expression}); } catch { return null; } })()`;
  return waitFor(async () => (await page.evaluate<T | null | false>(guarded)) ?? undefined, { what: what, timeoutMs: timeoutMs });
}

const rowKeys = (table: string) => `Array.from(document.querySelectorAll("#${table} tbody tr[data-key]")).map((r) => r.getAttribute("data-key"))`;

test("the status page shows services, participants, proxies and certificates, honours the admin token and follows the hosts file", { timeout: scaled(240_000) }, async (t) => {
  const browser = await launchChromium(t);
  if (browser === undefined) return;
  // A non-loopback admin address makes the controller require its admin token.
  const ctl = await startTestController(t, { hosts: HOSTS, patch: (c) => ({ ...c, admin: { ...c.admin, address: "0.0.0.0:0" } }) });
  const base = `http://127.0.0.1:${new URL(ctl.adminUrl).port}`;
  const adminToken = (await readFile(join(ctl.dir, "data", "admin-token"), "utf8")).trim();
  const api = async <T,>(path: string, body?: unknown): Promise<T> => {
    const res = await fetch(`${base}${path}`, {
      headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
      ...(body === undefined ? {} : { method: "POST", body: JSON.stringify(body) }),
    });
    assert.ok(res.ok, `${path}: ${res.status} ${await res.clone().text()}`);
    return (await res.json()) as T;
  };

  // The page's files carry no data and are served without the token, with headers that confine them.
  const shell = await fetch(`${base}/ui`);
  assert.equal(shell.status, 200);
  assert.match(shell.headers.get("content-security-policy") ?? "", /script-src 'self'/);
  assert.equal(shell.headers.get("x-frame-options"), "DENY");
  assert.equal((await fetch(`${base}/api/v1/catalog`)).status, 401);

  const ca = await (await fetch(`${base}/api/v1/ca`, { headers: { authorization: `Bearer ${adminToken}` } })).text();
  for (const [service, ip, port] of [["shop/bookbuyer", "127.0.0.10", 8080], ["shop/bookstore", "127.0.0.21", 14001]] as const) {
    const { token } = await api<{ token: string }>("/api/v1/tokens", { service, ttl: "10m", uses: 1 });
    const dir = await tempDir("mfui-agent-");
    const config = await testConfig(dir, ca, ctl.grpcAddress, { hostAddresses: [ip], endpoints: [`${ip}:${port}`] });
    await writeFile(join(dir, "token"), `${token}\n`);
    const agent = await startAgent(config, silentLogger());
    t.after(() => agent.close());
  }

  // Without the token: the form, and no data.
  const anonymous = await browser.open(`${base}/ui`);
  await pageUntil(anonymous, `document.body.dataset.state === "unauthorized"`, "the page to ask for the token");
  assert.equal(await anonymous.evaluate<boolean>(`document.getElementById("auth").hidden`), false);
  assert.equal(await anonymous.evaluate<number>(`document.querySelectorAll("#services tr").length`), 0);

  // With the token in the fragment: it leaves the address bar, and the mesh appears.
  const page = await browser.open(`${base}/ui#token=${encodeURIComponent(adminToken)}`);
  await pageUntil(page, `document.body.dataset.state === "live"`, "the page to go live");
  assert.equal(await page.evaluate<string>(`location.hash`), "");
  assert.deepEqual(await pageUntil<string[]>(page, `(${rowKeys("services-table")}).length === 2 && ${rowKeys("services-table")}`, "two services"), ["shop/bookbuyer", "shop/bookstore"]);
  const participants = await pageUntil<string[]>(page, `(${rowKeys("participants-table")}).length === 2 && ${rowKeys("participants-table")}`, "both agents to participate");
  const proxies = await pageUntil<string[]>(page, `(${rowKeys("proxies-table")}).length === 2 && ${rowKeys("proxies-table")}`, "both proxies");
  assert.deepEqual([...participants].sort(), [...proxies].sort());
  // Certificates are listed soonest expiry first: service certificates (hours) before proxy certificates (long-lived).
  const kinds = await page.evaluate<string[]>(`Array.from(document.querySelectorAll("#certificates-table tbody tr")).map((r) => r.children[1].textContent)`);
  assert.ok(kinds.includes("proxy") && kinds.includes("service"), `certificate kinds: ${kinds.join(", ")}`);
  assert.ok(kinds.lastIndexOf("service") < kinds.indexOf("proxy"), `service certificates first: ${kinds.join(", ")}`);
  assert.deepEqual(await page.evaluate<string[]>(rowKeys("providers-table")), (await api<Array<{ id: string }>>("/api/v1/providers")).map((p) => p.id));

  // A hosts-file edit reaches the open page without a reload: the new service, and its missing legs.
  await writeFile(ctl.hostsFile, `${HOSTS}  - { name: r1, address: 127.0.0.31, services: [{ name: reviews, namespace: shop, port: 9000 }] }\n`);
  await pageUntil(page, `(${rowKeys("services-table")}).includes("shop/reviews")`, "the new service on the open page");
  const missing = await page.evaluate<string>(`Array.from(document.querySelectorAll("#incomplete-table tbody tr")).map((r) => r.textContent).join("|")`);
  assert.match(missing, /shop\/reviews.*127\.0\.0\.31:9000.*issued.*connected/);

  // A hosts file with markup in it: shown as text in the provider's error, never run.
  await writeFile(ctl.hostsFile, `hosts:\n  - { name: "<img src=x onerror=window.pwned=1>", address: "<b>not-an-ip</b>", services: [] }\n`);
  await pageUntil(page, `document.querySelector("#providers-table tr[data-key=onprem]")?.textContent.includes("<img src=x onerror=window.pwned=1>")`, "the hosts-file error on the page");
  assert.equal(await page.evaluate<number>(`document.querySelectorAll("main img, main b:not(.card b)").length`), 0);
  assert.equal(await page.evaluate<unknown>(`window.pwned ?? null`), null);

  // Kept in the build tree, replaced by every run (a new temp directory per run piled up).
  const shots = fileURLToPath(new URL("../../test-artifacts/", import.meta.url));
  await mkdir(shots, { recursive: true });
  const png = await page.screenshot();
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  await writeFile(join(shots, "status-page.png"), png);
  t.diagnostic(`screenshot: ${join(shots, "status-page.png")}`);
});
