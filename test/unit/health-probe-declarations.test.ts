// Where health probes are declared (docs/agent.md, "Health probes"): the
// shared schema and --probe form, the precedence agent config > join token >
// hosts file (per port), the agent config file and flags, the hosts file's
// `probe` on a service entry, join tokens, and the wire form's defaults.
import "reflect-metadata";
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { parseAgentConfig, loadAgentConfig } from "../../src/agent/config.js";
import { MeshfedError } from "../../src/common/errors.js";
import { fromWireProbes, healthProbeSchema, mergeProbes, parseProbeFlag, PROBE_DEFAULTS, toWireProbe } from "../../src/common/health-probe.js";
import { parseHostsFile } from "../../src/controller/providers/onprem/hosts-file.js";
import { JoinTokens } from "../../src/controller/proxy-control-plane/join-tokens.js";
import { DataDir } from "../../src/agent/data-dir.js";
import { tempDir } from "../helpers/temp-dir.js";
import { readFile } from "node:fs/promises";
import { Clock, MemoryStore } from "../helpers/certificates.js";

const code = (c: string) => (err: unknown) => err instanceof MeshfedError && err.code === c;

test("--probe: key=value pairs with the YAML form's names and defaults", () => {
  assert.deepEqual(parseProbeFlag("port=14001,type=http,path=/healthz,periodSeconds=5,failureThreshold=2"), {
    port: 14001, type: "http", path: "/healthz", periodSeconds: 5, timeoutSeconds: PROBE_DEFAULTS.timeoutSeconds, successThreshold: 1, failureThreshold: 2,
  });
  assert.deepEqual(parseProbeFlag("port=3306,type=tcp"), { port: 3306, type: "tcp", ...PROBE_DEFAULTS });
});

test("--probe: each mistake is MESHFED_PROBE_INVALID naming the key", () => {
  const cases: Array<[string, RegExp]> = [
    ["port=14001", /type: must be one of http, tcp/],
    ["port=0,type=tcp", /port: must be a port/],
    ["port=14001,type=tcp,path=/x", /path: a tcp probe has no path/],
    ["port=14001,type=http,path=healthz", /path: must start with \//],
    ["port=14001,type=http,timeoutSeconds=20", /timeoutSeconds: must not exceed periodSeconds \(10\)/],
    ["port=14001,type=http,failureThreshold=0", /failureThreshold/],
    ["port=14001,type=http,failureThreshold=1.5", /failureThreshold: must be a whole number/],
    ["port=14001,type=http,interval=5", /Unrecognized key/i],
    ["port=14001,type=http,type=tcp", /type is given twice/],
    ["14001/http", /expected key=value pairs/],
    ["port=abc,type=http", /port/],
  ];
  for (const [text, message] of cases) {
    assert.throws(() => parseProbeFlag(text), (err: unknown) => code("MESHFED_PROBE_INVALID")(err) && message.test((err as Error).message), text);
  }
});

test("precedence per port: agent config over join token over hosts file", () => {
  const p = (port: number, path: string) => healthProbeSchema.parse({ port, type: "http", path });
  const merged = mergeProbes({
    hosts: [p(1, "/hosts"), p(2, "/hosts"), p(3, "/hosts")],
    token: [p(2, "/token"), p(3, "/token")],
    agent: [p(3, "/agent")],
  });
  assert.deepEqual(merged.map((m) => [m.port, m.path, m.source]), [[1, "/hosts", "hosts"], [2, "/token", "token"], [3, "/agent", "agent"]]);
  assert.deepEqual(mergeProbes({}), []);
});

test("agent config: probes in the file, --probe flags replace them, a bad one is a named error", async () => {
  const file = join(tmpdir(), "agent.yaml");
  const base = "controller: ctl:15128\ncaFile: ca.pem\nendpoints: [10.0.0.5:14001]\n";
  const config = parseAgentConfig(`${base}probes:\n  - { port: 14001, type: http, path: /healthz, periodSeconds: 5 }\n`, file);
  assert.deepEqual(config.probes.map((p) => [p.port, p.path, p.periodSeconds]), [[14001, "/healthz", 5]]);
  assert.deepEqual(parseAgentConfig(base, file).probes, [], "none by default");
  assert.throws(() => parseAgentConfig(`${base}probes:\n  - { port: 14001, type: tcp, path: /x }\n`, file), (err: unknown) =>
    code("MESHFED_AGENT_CONFIG_INVALID")(err) && /:5:37: a tcp probe has no path at probes\[0\]\.path/.test((err as Error).message));
  assert.throws(() => parseAgentConfig(`${base}probes:\n  - { port: 1, type: tcp }\n  - { port: 1, type: http }\n`, file), code("MESHFED_AGENT_CONFIG_INVALID"));
  const flags = await loadAgentConfig(undefined, { controller: "ctl:15128", caFile: "ca.pem", probes: ["port=14001,type=tcp", "port=8080,type=http"] });
  assert.deepEqual(flags.probes.map((p) => [p.port, p.type]), [[14001, "tcp"], [8080, "http"]]);
  await assert.rejects(loadAgentConfig(undefined, { controller: "ctl:15128", caFile: "ca.pem", probes: ["port=1,type=udp"] }), code("MESHFED_PROBE_INVALID"));
  await assert.rejects(loadAgentConfig(undefined, { controller: "ctl:15128", caFile: "ca.pem", probes: ["port=1,type=tcp", "port=1,type=http"] }), code("MESHFED_PROBE_INVALID"));
});

test("hosts file: a service entry's probe runs on the entry's port; mistakes are MESHFED_HOSTS_INVALID_PROBE at their line", () => {
  const file = parseHostsFile(`hosts:
  - name: web-1
    address: 10.0.0.5
    services:
      - { name: web, namespace: shop, port: 14001, probe: { type: http, path: /healthz, failureThreshold: 2 } }
      - { name: db, namespace: shop, port: 3306 }
`, "hosts.yaml");
  const [web, db] = file.hosts[0]!.services;
  assert.deepEqual(web!.probe, { port: 14001, type: "http", path: "/healthz", periodSeconds: 10, timeoutSeconds: 1, successThreshold: 1, failureThreshold: 2 });
  assert.equal(db!.probe, undefined);
  const bad = (probe: string) => `hosts:\n  - name: web-1\n    address: 10.0.0.5\n    services:\n      - name: web\n        namespace: shop\n        port: 14001\n        probe: ${probe}\n`;
  for (const [probe, message] of [
    ["{ type: http, port: 8080 }", /has no port of its own/],
    ["{ type: grpc }", /type: must be one of http, tcp/],
    ["{ type: http, periodSeconds: 0 }", /periodSeconds: must be at least 0\.1/],
  ] as const) {
    assert.throws(() => parseHostsFile(bad(probe), "hosts.yaml"), (err: unknown) =>
      code("MESHFED_HOSTS_INVALID_PROBE")(err) && message.test((err as Error).message) && (err as MeshfedError).details.line === 8, probe);
  }
});

test("join tokens carry probes to Enroll; a bad one is refused when the token is created", async () => {
  const clock = new Clock();
  const tokens = await JoinTokens.load({ store: new MemoryStore(), now: clock.now }, (key) => assert.fail(`corrupt ${key}`));
  const service = { namespace: "shop", name: "web" };
  const { token, info } = await tokens.create({ service, ttlMs: 60_000, uses: 1, probes: [{ port: 14001, type: "http", path: "/healthz" }] });
  assert.deepEqual(info.probes?.map((p) => [p.port, p.path, p.failureThreshold]), [[14001, "/healthz", 3]]);
  const consumed = await tokens.consume(token);
  assert.deepEqual(consumed.probes?.map((p) => p.port), [14001]);
  await assert.rejects(tokens.create({ service, ttlMs: 60_000, uses: 1, probes: [{ port: 14001, type: "ftp" }] }), code("MESHFED_PROBE_INVALID"));
  const plain = await tokens.create({ service, ttlMs: 60_000, uses: 1 });
  assert.equal(plain.info.probes, undefined, "no probes: the field is absent");
});

test("wire form: zeros and empty strings mean the defaults; a bad probe is dropped and named, the rest kept", () => {
  const p = healthProbeSchema.parse({ port: 14001, type: "http", path: "/healthz", periodSeconds: 3 });
  assert.deepEqual(fromWireProbes([toWireProbe(p)]).probes, [p]);
  const zeros = { port: 3306, type: "tcp", path: "", periodSeconds: 0, timeoutSeconds: 0, successThreshold: 0, failureThreshold: 0 };
  assert.deepEqual(fromWireProbes([zeros]).probes, [{ port: 3306, type: "tcp", ...PROBE_DEFAULTS }]);
  const { probes, rejected } = fromWireProbes([{ ...zeros, type: "icmp" }, { ...zeros, port: 22 }, { ...zeros, port: 22 }]);
  assert.deepEqual(probes.map((x) => x.port), [22]);
  assert.equal(rejected.length, 2);
});

test("the token's probes are kept with the enrollment in a file of their own (state.json stays as older agents read it)", async () => {
  const dir = new DataDir(await tempDir("meshfed-agent-"));
  await dir.init();
  const probes = [healthProbeSchema.parse({ port: 14001, type: "http", path: "/healthz" })];
  const service = { namespace: "shop", name: "web" };
  await dir.saveEnrollment({ proxyId: "p-1", service, enrolledAt: "2026-12-03T19:00:00.000Z", probes }, "CERT", "");
  assert.deepEqual((await dir.load()).enrollment?.probes, probes);
  assert.deepEqual(Object.keys(JSON.parse(await readFile(dir.file.state(), "utf8")) as object).sort(), ["enrolledAt", "proxyId", "service"]);
  await dir.saveEnrollment({ proxyId: "p-2", service, enrolledAt: "2026-12-03T19:00:00.000Z" }, "CERT", "");
  assert.equal((await dir.load()).enrollment?.probes, undefined, "a later enrollment without probes leaves none behind");
});
