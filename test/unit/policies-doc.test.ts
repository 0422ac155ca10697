// docs/policies.md cannot rot: every YAML example in it loads through the
// file store with zero errors, each policy kind has one, and every error code
// the parser can raise is in its table.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { silentLogger } from "../../src/common/logger.js";
import { FileMeshSpec } from "../../src/controller/spec/files/file-mesh-spec.js";
import { POLICY_ERROR_CODES } from "../../src/controller/spec/policy-parse.js";

const DOC = fileURLToPath(new URL("../../../docs/policies.md", import.meta.url));

function yamlBlocks(markdown: string): string[] {
  return [...markdown.matchAll(/^```yaml\n([\s\S]*?)^```$/gm)].map((m) => m[1]!);
}

test("docs/policies.md: every example loads through the file store with zero errors, one per kind", async (t) => {
  const blocks = yamlBlocks(await readFile(DOC, "utf8"));
  assert.ok(blocks.length >= 4, `found ${blocks.length} yaml blocks`);
  const dir = await mkdtemp(join(tmpdir(), "meshfed-policies-doc-"));
  t.after(() => rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 }));
  // One file per example, so a line in an error points into one example.
  await Promise.all(blocks.map((b, i) => writeFile(join(dir, `example-${String(i).padStart(2, "0")}.yaml`), b)));
  const spec = new FileMeshSpec({ dir, logger: silentLogger() });
  const ac = new AbortController();
  t.after(() => ac.abort());
  await spec.start(ac.signal);
  assert.deepEqual(spec.errors().map((e) => e.message), []);
  const p = spec.policies();
  assert.deepEqual([p.egresses.length, p.ingressBackends.length, p.upstreamTrafficSettings.length, p.retries.length].map((n) => n > 0), [true, true, true, true]);
});

test("docs/policies.md lists every MESHFED_POLICY_* code and has a Behaviour line per kind", async () => {
  const text = await readFile(DOC, "utf8");
  for (const code of Object.values(POLICY_ERROR_CODES)) assert.ok(text.includes(`\`${code}\``), code);
  for (const kind of ["Egress", "IngressBackend", "UpstreamTrafficSetting", "Retry"]) {
    const section = text.split(/^## /m).find((s) => s.startsWith(`${kind}\n`));
    assert.ok(section, `a section for ${kind}`);
    assert.match(section, /^Behaviour: /m, `${kind} has a Behaviour line`);
  }
});
