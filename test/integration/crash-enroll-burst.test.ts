// Issue 17: enrollments share group commits (the file store's journal), so a
// crash in the middle of a burst is the case to prove. The real `meshfed
// controller` is SIGKILLed after a seeded number of answers while dozens of
// Enroll calls are in flight, then restarted on the same data directory:
//  - every Enroll that was answered has its certificate record (same proxy id);
//  - no token was double-spent: answered ≤ used ≤ uses per token, the
//    registry holds no more proxy certificates than uses were spent, and the
//    uses left after the restart enroll exactly that many more keys;
//  - the store is not corrupted: the controller starts, every file is whole.
// MESHFED_TEST_SEED replays the kill points.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { X509Certificate } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { CODE_METADATA_KEY, loadProto, type EnrollResponse__Output } from "../../src/common/proto.js";
import { getJson, startControllerProcess, type ControllerProcess } from "../helpers/controller-process.js";
import { freePort } from "../helpers/agent-process.js";
import { tempDir } from "../helpers/temp-dir.js";
import { makeCsr, p256 } from "../helpers/certificates.js";
import { assertNoTornFile } from "../helpers/crash-ledger.js";
import { serverIdentityCheck } from "../helpers/grpc-agent.js";
import { seededRandom, testSeed } from "../helpers/seeded-random.js";

const ITERATIONS = Number(process.env.MESHFED_CRASH_ENROLL_ITERATIONS ?? 3);
const TOKENS = 6;
const USES = 8;
/** More attempts than uses: some must be refused as used up, never enrolled. */
const ATTEMPTS = 64;

type Answer = { ok: true; token: number; response: EnrollResponse__Output } | { ok: false; token: number; code: string; status: grpc.status };

function enrollOnce(client: grpc.Client & { Enroll: (...args: unknown[]) => void }, token: string, csrPem: string, index: number): Promise<Answer> {
  return new Promise((resolve) => {
    client.Enroll({ token, csrPem, agentVersion: "test", hostname: "burst" }, { deadline: Date.now() + 60_000 }, (err: grpc.ServiceError | null, res?: EnrollResponse__Output) => {
      if (err) resolve({ ok: false, token: index, code: String(err.metadata?.get(CODE_METADATA_KEY)[0] ?? ""), status: err.code });
      else resolve({ ok: true, token: index, response: res! });
    });
  });
}

function channel(grpcAddress: string, caPem: string) {
  const { meshfed } = loadProto();
  return new meshfed.v1.ProxyControlPlane(grpcAddress, grpc.credentials.createSsl(Buffer.from(caPem), null, null, { checkServerIdentity: serverIdentityCheck })) as unknown as grpc.Client & { Enroll: (...args: unknown[]) => void };
}

test(`controller SIGKILLed in an enrollment burst ${ITERATIONS} times: answered enrollments survive, no token use is spent twice, no file is torn`, { timeout: 300_000 }, async (t) => {
  const seed = testSeed();
  t.diagnostic(`seed ${seed} (replay with MESHFED_TEST_SEED=${seed})`);
  const random = seededRandom(seed);
  const processes: ControllerProcess[] = [];
  t.after(async () => {
    for (const p of processes) await p.stop("SIGKILL");
  });
  const dir = await tempDir("meshfed-crash-enroll-");
  // One peer address sends the whole burst: lift the per-address enrollment limit.
  await writeFile(join(dir, "controller.yaml"), "limits:\n  enrollPerSecond: 100000\n  enrollBurst: 100000\n");
  const grpcAddress = `127.0.0.1:${await freePort()}`;
  const args = ["--config", join(dir, "controller.yaml"), "--data-dir", join(dir, "data"), "--grpc-address", grpcAddress, "--log-level", "warn"];
  const start = async () => {
    const c = await startControllerProcess(args, 120_000);
    processes.push(c);
    return c;
  };
  // Keys and CSRs up front, so that the burst is only Enroll calls.
  const csrs = await Promise.all(Array.from({ length: ATTEMPTS + TOKENS * USES }, async () => makeCsr({ keys: await p256(), name: "", extensions: [] })));
  let ctl = await start();

  for (let i = 0; i < ITERATIONS; i++) {
    const where = `seed ${seed}, iteration ${i}`;
    const caPem = await (await fetch(`${ctl.url}/api/v1/ca`)).text();
    const tokens: Array<{ id: string; token: string }> = [];
    for (let k = 0; k < TOKENS; k++) {
      const res = await fetch(`${ctl.url}/api/v1/tokens`, { method: "POST", body: JSON.stringify({ service: `burst/svc-${i}-${k}`, ttl: "1h", uses: USES }), headers: { "content-type": "application/json" } });
      const body = (await res.json()) as { token: string; id: string };
      tokens.push({ id: body.id, token: body.token });
    }
    // Kill after 1..half of the uses were answered: the rest are in flight or not sent yet.
    const killAfter = 1 + Math.floor(random() * (TOKENS * USES) / 2);
    const client = channel(grpcAddress, caPem);
    const answered: Extract<Answer, { ok: true }>[] = [];
    let killed: Promise<number | string> | undefined;
    const victim = ctl;
    const results = await Promise.all(Array.from({ length: ATTEMPTS }, async (_, n) => {
      const tokenIndex = n % TOKENS;
      const answer = await enrollOnce(client, tokens[tokenIndex]!.token, csrs[n]!, tokenIndex);
      if (answer.ok && killed === undefined) {
        answered.push(answer);
        if (answered.length >= killAfter) killed = victim.stop("SIGKILL");
      }
      return answer;
    }));
    client.close();
    assert.equal(await (killed ?? victim.stop("SIGKILL")), "SIGKILL", `${where}: the controller was killed mid-burst`);
    const refusedBeforeKill = results.filter((r) => !r.ok && r.code !== "").map((r) => (r.ok ? "" : r.code));
    assert.ok(refusedBeforeKill.every((c) => c === "MESHFED_TOKEN_USED_UP"), `${where}: only used-up refusals, got ${refusedBeforeKill.join(", ")}`);
    t.diagnostic(`${where}: killed after ${answered.length} answers (${results.filter((r) => r.ok).length} ok in all, ${refusedBeforeKill.length} used up)`);

    ctl = await start();
    await assertNoTornFile(join(dir, "data"), where);
    const records = (await getJson(`${ctl.url}/api/v1/certificates`)) as Array<{ serial: string; kind: string; proxyId?: string; service: string }>;
    const bySerial = new Map(records.map((r) => [r.serial, r]));
    // Every answer given before the kill (and the ones in flight that got through) is on record.
    for (const a of results) {
      if (!a.ok) continue;
      const serial = new X509Certificate(a.response.certificatePem).serialNumber.toLowerCase();
      const record = bySerial.get(serial);
      assert.ok(record, `${where}: answered enrollment ${a.response.proxyId} (serial ${serial}) has its record after the restart`);
      assert.equal(record.proxyId, a.response.proxyId, where);
      assert.equal(record.service, `burst/svc-${i}-${a.token}`, where);
    }
    const listed = (await getJson(`${ctl.url}/api/v1/tokens`)) as Array<{ id: string; used: number; uses: number }>;
    for (const [k, tk] of tokens.entries()) {
      const info = listed.find((x) => x.id === tk.id);
      assert.ok(info, `${where}: token ${k} survived`);
      const answeredHere = results.filter((r) => r.ok && r.token === k).length;
      const recorded = records.filter((r) => r.kind === "proxy" && r.service === `burst/svc-${i}-${k}`).length;
      assert.ok(answeredHere <= info.used && info.used <= info.uses, `${where}: token ${k}: answered ${answeredHere} ≤ used ${info.used} ≤ uses ${info.uses}`);
      assert.ok(recorded <= info.used, `${where}: token ${k}: ${recorded} certificates on record for ${info.used} uses spent`);
    }
    // The uses left enroll exactly that many new keys, and not one more.
    const left = listed.filter((x) => tokens.some((tk) => tk.id === x.id)).reduce((sum, x) => sum + (x.uses - x.used), 0);
    const after = channel(grpcAddress, caPem);
    const more = await Promise.all(tokens.flatMap((tk, k) => Array.from({ length: USES }, (_, u) => enrollOnce(after, tk.token, csrs[ATTEMPTS + k * USES + u]!, k))));
    after.close();
    assert.equal(more.filter((r) => r.ok).length, left, `${where}: the ${left} uses left enroll exactly ${left} keys`);
    assert.ok(more.every((r) => r.ok || r.code === "MESHFED_TOKEN_USED_UP"), `${where}: the rest are refused as used up`);
  }
});
