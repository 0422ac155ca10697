// Property tests: the parsers of every file an operator (or an attacker with
// write access to a watched directory) hands meshfed — hosts file, SMI
// manifests, controller config, agent config — return a value or fail with a
// MeshfedError carrying one of their own codes. Nothing else may escape: a
// library error here would crash `meshfed validate` or a reload.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import fc from "fast-check";
import { MeshfedError } from "../../src/common/errors.js";
import { AGENT_CONFIG_INVALID, parseAgentConfig } from "../../src/agent/config.js";
import { CONFIG_INVALID, parseControllerConfig } from "../../src/controller/config/load.js";
import { HOSTS_ERROR_CODES, parseHostsFile } from "../../src/controller/providers/onprem/hosts-file.js";
import { parseSmiManifests, SMI_ERROR_CODES } from "../../src/controller/spec/smi-parse.js";
import { POLICY_ERROR_CODES } from "../../src/controller/spec/policy-parse.js";
import { resolveMeshSpec } from "../../src/controller/spec/smi-validate.js";
import { aliasBomb, assertNamedError, hostileText, hostileYamlStructure, mutationsOf, parsesOrNamedError, RUNS } from "../helpers/hostile-input.js";

const repoFile = (path: string) => readFileSync(new URL(`../../../${path}`, import.meta.url), "utf8");
const HOSTS = repoFile("config/hosts.example.yaml");
const SMI = repoFile("config/smi/access.yaml");
const POLICIES = repoFile("test/corpus/osm-edge/policies.yaml");
const CONTROLLER = repoFile("config/demo.yaml");
const AGENT = repoFile("agents/agent.example.yaml");

const parsers = [
  { name: "hosts file", valid: HOSTS, codes: Object.values(HOSTS_ERROR_CODES), parse: (text: string) => parseHostsFile(text, "/etc/meshfed/hosts.yaml") },
  { name: "controller config", valid: CONTROLLER, codes: [CONFIG_INVALID], parse: (text: string) => parseControllerConfig(text, "/etc/meshfed/controller.yaml") },
  { name: "agent config", valid: AGENT, codes: [AGENT_CONFIG_INVALID], parse: (text: string) => parseAgentConfig(text, "/etc/meshfed/agent.yaml") },
];

for (const p of parsers) {
  test(`${p.name}: the example parses (the mutations below start from a valid file)`, () => {
    p.parse(p.valid);
  });

  test(`${p.name}: arbitrary text, arbitrary YAML shapes and mutated files give a value or a named error`, () => {
    fc.assert(fc.property(fc.oneof(hostileText, hostileYamlStructure, mutationsOf(p.valid)), (text) => parsesOrNamedError(() => p.parse(text), p.codes)), { numRuns: RUNS });
  });

  test(`${p.name}: a "billion laughs" alias bomb is refused by name, quickly`, () => {
    assert.throws(() => p.parse(aliasBomb()), (err: unknown) => {
      assertNamedError(err, p.codes);
      assert.match((err as Error).message, /aliases expand too far/);
      return true;
    });
  });
}

test("SMI manifests: arbitrary text, shapes and mutated manifests never throw; every problem is a named error", () => {
  const codes = new Set<string>(Object.values(SMI_ERROR_CODES));
  fc.assert(
    fc.property(fc.oneof(hostileText, hostileYamlStructure, mutationsOf(SMI)), (text) => {
      const result = parseSmiManifests(text, "/etc/meshfed/smi/access.yaml");
      for (const err of result.errors) {
        assert.ok(err instanceof MeshfedError);
        assert.ok(codes.has(err.code), err.code);
      }
    }),
    { numRuns: RUNS },
  );
});

test("policy manifests: mutated osm-edge policy objects never throw, in parsing or cross-object checks; every problem is a named error", () => {
  const codes = new Set<string>([...Object.values(SMI_ERROR_CODES), ...Object.values(POLICY_ERROR_CODES)]);
  assert.equal(parseSmiManifests(POLICIES, "p.yaml").objects.length, 12, "the mutations start from valid objects");
  fc.assert(
    fc.property(mutationsOf(POLICIES), (text) => {
      const result = parseSmiManifests(text, "/etc/meshfed/smi/policies.yaml");
      for (const err of [...result.errors, ...result.notes, ...resolveMeshSpec(result.objects).errors]) {
        assert.ok(err instanceof MeshfedError);
        assert.ok(codes.has(err.code), err.code);
      }
    }),
    { numRuns: RUNS },
  );
});

test("SMI manifests: an alias bomb becomes one named error for its document; the other documents still parse", () => {
  const text = `${SMI}\n---\n${aliasBomb()}`;
  const result = parseSmiManifests(text, "smi.yaml");
  assert.equal(result.objects.length, parseSmiManifests(SMI, "smi.yaml").objects.length);
  assert.deepEqual(result.errors.map((e) => e.code), [SMI_ERROR_CODES.yaml]);
  assert.match(result.errors[0]!.message, /^smi\.yaml:\d+:\d+: document \d+: YAML aliases expand too far/);
});
