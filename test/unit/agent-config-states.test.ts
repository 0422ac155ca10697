import { test } from "node:test";
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { loadAgentConfig, parseAgentConfig } from "../../src/agent/config.js";
import { AgentStateMachine, AGENT_STATES, TRANSITIONS, type AgentState } from "../../src/agent/state-machine.js";
import { MeshfedError } from "../../src/common/errors.js";
import { captureLogger } from "../helpers/certificates.js";
import { tempDir } from "../helpers/temp-dir.js";

test("agent.yaml: defaults, relative paths resolved against the file, controller list", () => {
  const c = parseAgentConfig("controller: a.example:15128, b.example:15128\ncaFile: ca.pem\ntokenFile: token\n", "/etc/meshfed/agent.yaml");
  assert.deepEqual(c.controller, ["a.example:15128", "b.example:15128"]);
  assert.equal(c.caFile, "/etc/meshfed/ca.pem");
  assert.equal(c.tokenFile, "/etc/meshfed/token");
  assert.equal(c.repoAddress, "127.0.0.1:15010");
  assert.equal(c.backoff.cap, 30_000);
  assert.equal(c.proxy.convergenceTimeout, 30_000);
  assert.equal(c.proxy.stopGrace, 10_000);
  assert.equal(c.proxy.pipy, "pipy", "a bare command stays a PATH lookup");
  assert.equal(c.proxy.enabled, true);
});

// Issue 16, items 3 and 4: the certificate backoff and the keepalive, with their bounds.
test("agent.yaml: keepalive (20s + 10s) and backoff.tlsRetry (5m) defaults, and their bounds", () => {
  const base = "controller: a:1\ncaFile: ca.pem\n";
  const d = parseAgentConfig(base, "/x/agent.yaml");
  assert.deepEqual(d.keepalive, { time: 20_000, timeout: 10_000 });
  assert.equal(d.backoff.tlsRetry, 300_000);
  const c = parseAgentConfig(`${base}keepalive: { time: 1s, timeout: 2s }\nbackoff: { tlsRetry: 1m }\n`, "/x/agent.yaml");
  assert.deepEqual(c.keepalive, { time: 1_000, timeout: 2_000 });
  assert.equal(c.backoff.tlsRetry, 60_000);
  for (const bad of ["keepalive: { time: 100ms }", "keepalive: { timeout: 1h }", "backoff: { tlsRetry: 10ms }", "backoff: { tlsRetry: 25h }"]) {
    assert.throws(() => parseAgentConfig(`${base}${bad}\n`, "/x/agent.yaml"), (err: unknown) => err instanceof MeshfedError && /must be between/.test(err.message), bad);
  }
});

test("agent.yaml errors name file:line:column", () => {
  const cases: Array<{ yaml: string; message: RegExp }> = [
    { yaml: "controller: a:1\ncaFile: ca.pem\nrepoAddress: 10.0.0.1:15010\n", message: /^\/x\/agent\.yaml:3:14: must be a loopback address/ },
    { yaml: "controller: a:1\ncaFile: ca.pem\nendpoints:\n  - 10.0.0.1:8080\n  - nope\n", message: /^\/x\/agent\.yaml:5:5: expected IP:PORT/ },
    { yaml: "controller: a:1\ncaFile: ca.pem\nproxy:\n  stopGrace: soon\n", message: /^\/x\/agent\.yaml:4:14: "soon" is not a duration/ },
    { yaml: "controller: a:1\ncaFile: ca.pem\nbogus: 1\n", message: /^\/x\/agent\.yaml:3:1: unknown field "bogus"/ },
    { yaml: "caFile: ca.pem\n", message: /^\/x\/agent\.yaml:1:1: .*controller/ },
    { yaml: "controller: [a:1\n", message: /^\/x\/agent\.yaml:\d+:\d+: YAML syntax error/ },
  ];
  for (const { yaml, message } of cases) {
    assert.throws(() => parseAgentConfig(yaml, "/x/agent.yaml"), (err: unknown) => {
      assert.ok(err instanceof MeshfedError);
      assert.equal(err.code, "MESHFED_AGENT_CONFIG_INVALID");
      assert.match(err.message, message);
      return true;
    });
  }
});

test("flags override the file and are validated like it", async () => {
  const dir = await tempDir("meshfed-agent-");
  const file = join(dir, "agent.yaml");
  await writeFile(file, "controller: a:1\ncaFile: ca.pem\nendpoints: [10.0.0.1:80]\n");
  const c = await loadAgentConfig(file, { controller: "x:1,y:2", endpoints: ["10.0.0.2:81", "10.0.0.2:82"], proxy: false, backoffCap: "5s", hostAddresses: ["127.0.0.3"], dataDir: "d" });
  assert.deepEqual(c.controller, ["x:1", "y:2"]);
  assert.deepEqual(c.endpoints, ["10.0.0.2:81", "10.0.0.2:82"]);
  assert.equal(c.proxy.enabled, false);
  assert.equal(c.backoff.cap, 5000);
  assert.deepEqual(c.hostAddresses, ["127.0.0.3"]);
  assert.equal(c.dataDir, join(process.cwd(), "d"));
  await assert.rejects(loadAgentConfig(file, { repoAddress: "0.0.0.0:15010" }), /command-line flag --repo-address: must be a loopback address/);
  await assert.rejects(loadAgentConfig(undefined, {}), /give at least --controller and --ca-file/);
  const flagsOnly = await loadAgentConfig(undefined, { controller: "c:1", caFile: "ca.pem" });
  assert.equal(flagsOnly.caFile, join(process.cwd(), "ca.pem"));
});

test("state machine: the written-down transitions are the only ones; each is logged", () => {
  const { logger, lines } = captureLogger();
  for (const from of AGENT_STATES) {
    for (const to of AGENT_STATES) {
      const allowed = TRANSITIONS[from].includes(to);
      const sm = new AgentStateMachine("CONNECTING", logger);
      // Walk to `from` along allowed edges.
      const walk: Record<AgentState, AgentState[]> = {
        ENROLLING: ["BACKOFF", "ENROLLING"], CONNECTING: [], CONNECTED: ["CONNECTED"], BACKOFF: ["BACKOFF"], DRAINING: ["DRAINING"], STOPPED: ["DRAINING", "STOPPED"],
      };
      for (const step of walk[from]) sm.to(step);
      assert.equal(sm.state, from);
      if (allowed) {
        sm.to(to);
        assert.equal(sm.state, to);
      } else {
        assert.throws(() => sm.to(to), { code: "MESHFED_AGENT_ILLEGAL_TRANSITION" });
        assert.equal(sm.state, from);
      }
    }
  }
  assert.ok(lines.some((l) => l.msg === "agent state CONNECTING -> CONNECTED" && l.from === "CONNECTING" && l.state === "CONNECTED"));
  assert.deepEqual(TRANSITIONS.STOPPED, []);
});
