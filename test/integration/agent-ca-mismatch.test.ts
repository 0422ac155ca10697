// Issue 16 item 2, the agent's side: an agent pinned to one controller's CA
// that dials another controller names the problem MESHFED_AGENT_CA_MISMATCH
// in its log, GET /status (`trust`) and data/trust-failure.json (with its
// pid, for the installer) instead of looking like a network outage; a
// restart with the right CA clears the verdict and the agent connects.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startAgentProcess, type AgentProcess } from "../helpers/agent-process.js";
import { startTestController } from "../helpers/in-process-controller.js";

interface Trust { code: string; controller: string; message: string; tlsError: string; since: string }

test("agent pinned to another controller's CA: MESHFED_AGENT_CA_MISMATCH in log, /status and trust-failure.json; a restart with the right CA clears it", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "mfdb-ca-mismatch-"));
  const agents: AgentProcess[] = [];
  t.after(async () => {
    for (const a of agents) await a.stop("SIGKILL");
    await rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
  });
  const a = await startTestController(t);
  const b = await startTestController(t);
  const { token } = await b.api<{ token: string }>("/api/v1/tokens", { service: "shop/web", ttl: "10m", uses: 1 });
  await writeFile(join(dir, "token"), `${token}\n`, { mode: 0o600 });
  await writeFile(join(dir, "ca.pem"), await a.api<string>("/api/v1/ca"));
  const args = ["--controller", b.grpcAddress, "--ca-file", join(dir, "ca.pem"), "--token-file", join(dir, "token"), "--data-dir", join(dir, "data"),
    "--service", "shop/web", "--endpoint", "127.0.0.2:8080", "--host-address", "127.0.0.2", "--no-proxy"];

  const wrong = await startAgentProcess(args);
  agents.push(wrong);
  const status = (await wrong.waitFor((s) => (s as unknown as { trust: Trust | null }).trust !== null)) as unknown as { state: string; trust: Trust };
  assert.equal(status.trust.code, "MESHFED_AGENT_CA_MISMATCH");
  assert.equal(status.trust.controller, b.grpcAddress);
  assert.match(status.trust.tlsError, /self[- ]signed certificate|local issuer/);
  assert.match(status.trust.message, /does not chain to the CA bundle this agent pins/);
  assert.ok(["ENROLLING", "BACKOFF"].includes(status.state), status.state);
  assert.match(wrong.stderr(), /"code":"MESHFED_AGENT_CA_MISMATCH"/);
  const verdict = JSON.parse(await readFile(join(dir, "data", "trust-failure.json"), "utf8")) as Trust & { pid: number };
  assert.deepEqual([verdict.code, verdict.pid], ["MESHFED_AGENT_CA_MISMATCH", wrong.child.pid]);
  await wrong.stop();

  // The right CA: the verdict is gone at start, the agent enrolls and connects, /status says trust null.
  await writeFile(join(dir, "ca.pem"), await b.api<string>("/api/v1/ca"));
  const right = await startAgentProcess(args);
  agents.push(right);
  const connected = (await right.waitFor((s) => s.state === "CONNECTED")) as unknown as { trust: Trust | null };
  assert.equal(connected.trust, null);
  assert.equal(existsSync(join(dir, "data", "trust-failure.json")), false);
});
