// The nonce RPC that starts an enrollment by attestation spends from the same
// per-peer bucket as Enroll (limits.enrollPerSecond / enrollBurst): a flood of
// nonce requests, each a store write, is refused like token guessing.
import { test } from "node:test";
import assert from "node:assert/strict";
import { callAttestationNonce } from "../../src/agent/enroll.js";
import { classifyRpcError, PermanentRefusal } from "../../src/agent/grpc-errors.js";
import { startTestController } from "../helpers/in-process-controller.js";

test("AttestationNonce and Enroll by attestation share the enrollment rate limit; without bootstrap.azureImds the feature is refused by name", async (t) => {
  const ctl = await startTestController(t, { patch: (c) => ({ ...c, limits: { ...c.limits, enrollPerSecond: 0.01, enrollBurst: 3 } }) });
  const caPem = await ctl.api<string>("/api/v1/ca");
  const rpc = { address: ctl.grpcAddress, caPem, timeoutMs: 5_000, signal: new AbortController().signal };
  const codes: string[] = [];
  for (let i = 0; i < 5; i++) {
    codes.push(await callAttestationNonce(rpc).then(() => "ok", (err: unknown) => (err instanceof PermanentRefusal ? err.code : classifyRpcError(err).code)));
  }
  // No roots configured: the first three get the feature's own refusal, the rest the rate limit.
  assert.deepEqual(codes, ["MESHFED_ATTEST_DISABLED", "MESHFED_ATTEST_DISABLED", "MESHFED_ATTEST_DISABLED", "MESHFED_ENROLL_RATE_LIMITED", "MESHFED_ENROLL_RATE_LIMITED"]);
});
