// `meshfed demo --transparent` refuses clearly, before it creates anything,
// when a prerequisite is missing. Runs anywhere (no Pipy, no root needed):
// the expected refusal for the cases past --pipy depends on whether this
// process is root, and both answers are named errors.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CLI } from "../helpers/controller-process.js";
import { scaled } from "../helpers/wait.js";

async function demo(args: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<{ code: number | null; stderr: string; stdout: string }> {
  const child = spawn(process.execPath, [CLI, "demo", "--transparent", ...args], { stdio: ["ignore", "pipe", "pipe"], env });
  let stderr = "";
  let stdout = "";
  child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
  const [code] = (await once(child, "exit")) as [number | null];
  return { code, stderr, stdout };
}

const root = process.getuid?.() === 0;

test("demo --transparent refuses with a named error and creates nothing when a prerequisite is missing", { timeout: scaled(120_000) }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "meshfed-demo-refusal-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const data = ["--data-dir", join(dir, "controller"), "--admin-address", "127.0.0.1:0", "--grpc-address", "127.0.0.1:0"];
  const cases = [
    { name: "no --pipy", args: data, env: process.env, code: "MESHFED_DEMO_PIPY_REQUIRED", says: /--pipy PATH/ },
    {
      name: "a --pipy that is not there",
      args: [...data, "--pipy", join(dir, "no-such-pipy")],
      env: process.env,
      code: root ? "MESHFED_DEMO_PIPY_NOT_FOUND" : "MESHFED_DEMO_NOT_ROOT",
      says: root ? /no-such-pipy: no executable file there/ : /must run as root/,
    },
    {
      // A PATH without iproute2 and iptables (node is run by its full path).
      name: "no ip on PATH",
      args: [...data, "--pipy", process.execPath],
      env: { ...process.env, PATH: dir },
      code: root ? "MESHFED_DEMO_TOOL_MISSING" : "MESHFED_DEMO_NOT_ROOT",
      says: root ? /needs "ip" on PATH/ : /must run as root/,
    },
  ];
  for (const c of cases) {
    const r = await demo(c.args, c.env);
    assert.equal(r.code, 1, `${c.name}: exit code\n${r.stderr}`);
    assert.match(r.stderr, new RegExp(`^meshfed: ${c.code}: `, "m"), c.name);
    assert.match(r.stderr, c.says, c.name);
    assert.doesNotMatch(r.stdout, /controller ready/, `${c.name}: refused before starting anything`);
  }
  assert.deepEqual(await readdir(dir), [], "no controller data dir was created");
});
