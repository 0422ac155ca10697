// Issue 23 item 3: `meshfed agent --config FILE` with flags for the fields
// the file lacks. The flags are merged into the file's values before the
// schema checks what is required, as the controller's loader does.
import { test } from "node:test";
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { loadAgentConfig } from "../../src/agent/config.js";
import { tempDir } from "../helpers/temp-dir.js";

test("agent --config: controller and caFile from the file, from the flags, or both (the flag wins)", async () => {
  const dir = await tempDir("meshfed-agent-");
  const write = async (name: string, text: string) => {
    const file = join(dir, name);
    await writeFile(file, text);
    return file;
  };
  const full = await write("full.yaml", "controller: file.example:15128\ncaFile: file-ca.pem\n");
  const bare = await write("bare.yaml", "dataDir: data\n");
  const half = await write("half.yaml", "controller: file.example:15128\n");
  const cases: Array<{ name: string; file: string; flags: { controller?: string; caFile?: string }; controller: string[]; caFile: string }> = [
    { name: "file has both, no flags", file: full, flags: {}, controller: ["file.example:15128"], caFile: join(dir, "file-ca.pem") },
    { name: "file lacks both, flags give them", file: bare, flags: { controller: "flag.example:15128", caFile: "flag-ca.pem" }, controller: ["flag.example:15128"], caFile: join(process.cwd(), "flag-ca.pem") },
    { name: "file lacks caFile, the flag gives it", file: half, flags: { caFile: "/etc/ca.pem" }, controller: ["file.example:15128"], caFile: "/etc/ca.pem" },
    { name: "both give them: the flags win", file: full, flags: { controller: "a:1,b:2", caFile: "/etc/ca.pem" }, controller: ["a:1", "b:2"], caFile: "/etc/ca.pem" },
  ];
  for (const c of cases) {
    const config = await loadAgentConfig(c.file, c.flags);
    assert.deepEqual(config.controller, c.controller, c.name);
    assert.equal(config.caFile, c.caFile, c.name);
  }
  // The file's other values survive the merge; relative paths in it stay relative to the file.
  assert.equal((await loadAgentConfig(bare, { controller: "c:1", caFile: "/ca.pem" })).dataDir, join(dir, "data"));
  // Still required when neither gives it, still checked when a flag gives it.
  await assert.rejects(loadAgentConfig(bare, { controller: "c:1" }), { code: "MESHFED_AGENT_CONFIG_INVALID", message: /caFile/ });
  await assert.rejects(loadAgentConfig(half, {}), { code: "MESHFED_AGENT_CONFIG_INVALID", message: /caFile/ });
  await assert.rejects(loadAgentConfig(bare, { controller: "no port", caFile: "/ca.pem" }), { code: "MESHFED_AGENT_CONFIG_INVALID", message: /command-line flag --controller/ });
});
