import { test } from "node:test";
import assert from "node:assert/strict";
import { parseControllerConfig, loadControllerConfig } from "../../src/controller/config/load.js";
import { MeshfedError } from "../../src/common/errors.js";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

test("an empty config file gives the documented defaults", () => {
  const c = parseControllerConfig("", "/etc/meshfed/controller.yaml");
  assert.equal(c.dataDir, "/etc/meshfed/meshfed-data");
  assert.equal(c.admin.address, "127.0.0.1:15000");
  assert.equal(c.grpc.address, "0.0.0.0:15128");
  assert.equal(c.certificates.serviceValidity, 24 * 3_600_000);
  assert.equal(c.certificates.serviceJitter, 3_600_000);
  assert.equal(c.mesh.permissive, false);
  assert.deepEqual(c.catalog.providerPriority, ["kubernetes", "azure", "agents", "onprem"]);
  assert.equal(c.providers.onprem, undefined);
});

test("relative paths are resolved against the config file's directory", () => {
  const c = parseControllerConfig("dataDir: state\nproviders:\n  onprem:\n    hostsFile: hosts.yaml\nspec:\n  files:\n    directory: /abs/smi\n", "/opt/m/c.yaml");
  assert.equal(c.dataDir, "/opt/m/state");
  assert.equal(c.providers.onprem?.hostsFile, "/opt/m/hosts.yaml");
  assert.equal(c.spec.files?.directory, "/abs/smi");
});

const invalid: Array<[string, string, number, number, RegExp]> = [
  ["unknown top-level field", "dataDir: x\nfrobnicate: 1\n", 2, 1, /unknown field "frobnicate"/],
  ["bad duration", "certificates:\n  serviceValidity: forever\n", 2, 20, /not a duration/],
  ["bad address", "admin:\n  address: localhost\n", 2, 12, /host:port/],
  ["bad log level", "logLevel: loud\n", 1, 11, /logLevel|Invalid option/i],
  ["YAML syntax", "admin: [unclosed\n", 2, 1, /YAML syntax error/],
  ["bad trust domain", "trustDomain: Not_A_Name\n", 1, 14, /DNS name/],
];

for (const [name, text, line, column, message] of invalid) {
  test(`config error names file, line and column: ${name}`, () => {
    assert.throws(() => parseControllerConfig(text, "c.yaml"), (err: unknown) => {
      assert.ok(err instanceof MeshfedError);
      assert.equal(err.code, "MESHFED_CONFIG_INVALID");
      assert.match(err.message, message);
      assert.equal(err.details.line, line, err.message);
      assert.equal(err.details.column, column, err.message);
      assert.match(err.message, new RegExp(`^c\\.yaml:${line}:${column}: `));
      return true;
    });
  });
}

test("flags override the file and are validated the same way", async () => {
  const c = await loadControllerConfig(undefined, { adminAddress: "127.0.0.1:0", logLevel: "debug", hostsFile: "h.yaml" });
  assert.equal(c.admin.address, "127.0.0.1:0");
  assert.equal(c.logLevel, "debug");
  assert.equal(c.providers.onprem?.hostsFile, `${process.cwd()}/h.yaml`);
  await assert.rejects(loadControllerConfig(undefined, { adminAddress: "nope" }), { code: "MESHFED_CONFIG_INVALID" });
  await assert.rejects(loadControllerConfig("/nonexistent/c.yaml"), { code: "MESHFED_CONFIG_NOT_FOUND" });
});

// Issue 16, item 4: the keepalive that bounds half-open detection is configurable within sane bounds.
test("grpc.keepalive: defaults 20s + 10s, file values kept when --grpc-address overrides the address, bounds refused by name", async (t) => {
  const d = parseControllerConfig("", "/etc/meshfed/controller.yaml");
  assert.deepEqual(d.grpc.keepalive, { time: 20_000, timeout: 10_000 });
  const dir = await mkdtemp(join(tmpdir(), "mfda-config-"));
  t.after(() => rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 }));
  await writeFile(join(dir, "c.yaml"), "grpc:\n  keepalive: { time: 2s, timeout: 1500ms }\n");
  const c = await loadControllerConfig(join(dir, "c.yaml"), { grpcAddress: "127.0.0.1:0" });
  assert.deepEqual(c.grpc, {
    address: "127.0.0.1:0", keepalive: { time: 2_000, timeout: 1_500 }, reconnectGrace: 10_000, massDisconnect: { threshold: 0.5, minProxies: 20, maxHold: 300_000 },
  });
  for (const bad of ["time: 500ms", "time: 11m", "timeout: 0s", "timeout: 6m"]) {
    assert.throws(() => parseControllerConfig(`grpc:\n  keepalive: { ${bad} }\n`, "c.yaml"), (err: unknown) => err instanceof MeshfedError && err.code === "MESHFED_CONFIG_INVALID" && /must be between/.test(err.message), bad);
  }
});

test("grpc.reconnectGrace: default 10s, 0 allowed (withdraw when the stream ends), at most 5m", () => {
  assert.equal(parseControllerConfig("", "c.yaml").grpc.reconnectGrace, 10_000);
  assert.equal(parseControllerConfig("grpc:\n  reconnectGrace: 0s\n", "c.yaml").grpc.reconnectGrace, 0);
  assert.equal(parseControllerConfig("grpc:\n  reconnectGrace: 30s\n", "c.yaml").grpc.reconnectGrace, 30_000);
  assert.throws(() => parseControllerConfig("grpc:\n  reconnectGrace: 6m\n", "c.yaml"), (err: unknown) => err instanceof MeshfedError && err.code === "MESHFED_CONFIG_INVALID" && /must be between/.test(err.message));
});

test("grpc.massDisconnect: defaults half of the proxies, at least 20, held at most 5m; threshold 0 turns it off; out of range refused", () => {
  assert.deepEqual(parseControllerConfig("", "c.yaml").grpc.massDisconnect, { threshold: 0.5, minProxies: 20, maxHold: 300_000 });
  assert.deepEqual(parseControllerConfig("grpc:\n  massDisconnect: { threshold: 0, maxHold: 1h }\n", "c.yaml").grpc.massDisconnect, { threshold: 0, minProxies: 20, maxHold: 3_600_000 });
  for (const bad of ["threshold: 1.5", "threshold: -0.1", "minProxies: 0", "minProxies: 2.5", "maxHold: 2h", "holdFor: 5m"]) {
    assert.throws(() => parseControllerConfig(`grpc:\n  massDisconnect: { ${bad} }\n`, "c.yaml"), (err: unknown) => err instanceof MeshfedError && err.code === "MESHFED_CONFIG_INVALID", bad);
  }
});
