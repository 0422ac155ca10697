// Issue 9, part 5 (a finding of the crash tests): an agent SIGKILLed after
// the controller answered Enroll but before it stored the answer restarts
// with the same key and no certificate, and enrolls again. With a
// single-use token that used to fail for good (MESHFED_TOKEN_USED_UP).
import { test } from "node:test";
import assert from "node:assert/strict";
import { enroll, EnrollError, generateKeyPem } from "../helpers/grpc-agent.js";
import { startTestController } from "../helpers/in-process-controller.js";

test("a retried enrollment by the same key gets its proxy id back, spends no use, and revokes the lost certificate", async (t) => {
  const ctl = await startTestController(t);
  const ca = await ctl.api<string>("/api/v1/ca");
  const { token } = await ctl.api<{ token: string }>("/api/v1/tokens", { service: "shop/web", ttl: "10m", uses: 1 });
  const key = await generateKeyPem();

  const lost = await enroll(ctl.grpcAddress, ca, token, key);
  const retried = await enroll(ctl.grpcAddress, ca, token, key);
  assert.equal(retried.response.proxyId, lost.response.proxyId, "same proxy");
  assert.notEqual(retried.response.certificatePem, lost.response.certificatePem, "a fresh certificate");

  const certs = await ctl.api<Array<{ proxyId?: string; state: string; revocationReason?: string }>>("/api/v1/certificates");
  assert.deepEqual(
    certs.filter((c) => c.proxyId === lost.response.proxyId).map((c) => `${c.state}:${c.revocationReason ?? ""}`).sort(),
    ["revoked:superseded by a retried enrollment of the same key", "unclaimed:"],
  );
  const tokens = await ctl.api<Array<{ used: number; uses: number }>>("/api/v1/tokens");
  assert.deepEqual(tokens.map((x) => `${x.used}/${x.uses}`), ["1/1"], "the retry spent no use");

  // Another key holding the same token gets nothing: the token is used up.
  await assert.rejects(enroll(ctl.grpcAddress, ca, token), (err: unknown) => err instanceof EnrollError && err.code === "MESHFED_TOKEN_USED_UP");
  // Revoking the token ends the retry window too.
  await ctl.api("/api/v1/tokens/revoke", { id: token.split(".")[1] });
  await assert.rejects(enroll(ctl.grpcAddress, ca, token, key), (err: unknown) => err instanceof EnrollError && err.code === "MESHFED_TOKEN_REVOKED");
});
