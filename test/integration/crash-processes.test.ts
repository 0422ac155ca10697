// Issue 9, part 5 with real processes: `meshfed controller` and `meshfed
// agent` SIGKILLed at random points — the first ones while the agent
// enrolls — then restarted on the same data directories. The agent must come
// back with the certificate it enrolled with (no second enrollment, nothing
// new in the registry but service certificate renewals), and no file may be
// torn. MESHFED_TEST_SEED replays the schedule.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { X509Certificate } from "node:crypto";
import { getJson, startControllerProcess, type ControllerProcess } from "../helpers/controller-process.js";
import { freePort, startAgentProcess, type AgentProcess } from "../helpers/agent-process.js";
import { tempDir } from "../helpers/temp-dir.js";
import { assertNoTornFile } from "../helpers/crash-ledger.js";
import { seededRandom, testSeed } from "../helpers/seeded-random.js";
import { scaled } from "../helpers/wait.js";

const ITERATIONS = Number(process.env.MESHFED_CRASH_PROCESS_ITERATIONS ?? 6);
type Victim = "controller" | "agent" | "both";

test(`controller and agent SIGKILLed at random points ${ITERATIONS} times: the agent comes back without re-enrolling`, { timeout: scaled(540_000) }, async (t) => {
  const seed = testSeed();
  t.diagnostic(`seed ${seed} (replay with MESHFED_TEST_SEED=${seed})`);
  const random = seededRandom(seed);
  // Registered before the temp dir's removal: after hooks run in order, and
  // a live agent would write into the directory being removed.
  const processes: Array<ControllerProcess | AgentProcess> = [];
  t.after(async () => {
    for (const p of processes) await p.stop("SIGKILL");
  });
  const dir = await tempDir("meshfed-crash-processes-");
  const grpc = `127.0.0.1:${await freePort()}`;
  const repoPort = await freePort();
  const controllerArgs = ["--data-dir", join(dir, "controller"), "--grpc-address", grpc, "--log-level", "warn"];
  const agentArgs = [
    "--controller", grpc, "--ca-file", join(dir, "ca.pem"), "--token-file", join(dir, "token"), "--data-dir", join(dir, "agent"),
    "--service", "shop/web", "--endpoint", "127.0.0.2:8080", "--host-address", "127.0.0.2", "--no-proxy",
  ];
  const startCtl = async () => {
    const c = await startControllerProcess(controllerArgs);
    processes.push(c);
    return c;
  };
  const startAgent = async () => {
    const a = await startAgentProcess(agentArgs, repoPort);
    processes.push(a);
    return a;
  };

  let ctl = await startCtl();
  await writeFile(join(dir, "ca.pem"), await (await fetch(`${ctl.url}/api/v1/ca`)).text());
  const res = await fetch(`${ctl.url}/api/v1/tokens`, { method: "POST", body: JSON.stringify({ service: "shop/web", ttl: "1h", uses: 1 }), headers: { "content-type": "application/json" } });
  await writeFile(join(dir, "token"), `${((await res.json()) as { token: string }).token}\n`);
  let agent = await startAgent();

  let enrolledSerial: string | undefined;
  const started = performance.now();
  for (let i = 0; i < ITERATIONS; i++) {
    const where = `seed ${seed}, iteration ${i}`;
    const victim: Victim = (["controller", "agent", "both"] as const)[Math.floor(random() * 3)]!;
    // The first kill lands within the agent's enrollment (its first ~second).
    const delayMs = Math.floor(random() * (i === 0 ? 800 : 1500));
    await new Promise((r) => setTimeout(r, delayMs));
    if (victim !== "agent") assert.equal(await ctl.stop("SIGKILL"), "SIGKILL");
    if (victim !== "controller") assert.equal(await agent.stop("SIGKILL"), "SIGKILL");
    t.diagnostic(`${where}: killed ${victim} after ${delayMs} ms`);
    if (victim !== "agent") ctl = await startCtl();
    if (victim !== "controller") agent = await startAgent();

    const status = await agent.waitFor((s) => s.state === "CONNECTED" && s.configVersion >= 1 && s.certificates.service !== null, 60_000);
    assert.ok(status, where);
    const serial = new X509Certificate(await readFile(join(dir, "agent", "proxy-cert.pem"), "utf8")).serialNumber.toLowerCase();
    enrolledSerial ??= serial;
    assert.equal(serial, enrolledSerial, `${where}: the agent kept the certificate it enrolled with`);
    const records = (await getJson(`${ctl.url}/api/v1/certificates`)) as Array<{ serial: string; kind: string; state: string }>;
    const live = records.filter((r) => r.kind === "proxy" && r.state !== "revoked");
    assert.deepEqual(live.map((r) => `${r.serial}:${r.state}`), [`${enrolledSerial}:claimed`], `${where}: one live proxy certificate, the agent's`);
    const tokens = (await getJson(`${ctl.url}/api/v1/tokens`)) as Array<{ used: number; uses: number }>;
    assert.deepEqual(tokens.map((tk) => `${tk.used}/${tk.uses}`), ["1/1"], `${where}: the single-use token was spent once`);
    await assertNoTornFile(join(dir, "controller"), where);
    await assertNoTornFile(join(dir, "agent"), where);
  }
  t.diagnostic(`${ITERATIONS} kills in ${((performance.now() - started) / 1000).toFixed(1)} s`);
});
