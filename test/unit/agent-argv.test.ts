/**
 * The agent bundle's command line (issue 17: the bundle carries no yargs).
 * The parser reads the same flag table as the full CLI, so every flag of
 * `meshfed agent` must parse to the key the agent's config loader reads, and
 * every mistake must be a usage error (exit 2) that names it. The bundle
 * itself is run to prove the entry is wired and yargs is really gone.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { AgentUsageError, parseAgentArgv } from "../../src/cli/agent-argv.js";
import { AGENT_RUN_FLAGS } from "../../src/cli/commands/agent-run.js";

const run = promisify(execFile);
const BUNDLE = fileURLToPath(new URL("../../agent-bundle/meshfed-agent.mjs", import.meta.url));
const CLI = fileURLToPath(new URL("../../src/cli/main.js", import.meta.url));

async function node(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, args);
    return { code: 0, ...r };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** A value each flag accepts: its first choice, or a string; a boolean takes none. */
function sample(flag: (typeof AGENT_RUN_FLAGS)[number]): string | undefined {
  return flag.type === "boolean" ? undefined : (flag.choices?.[0] ?? `value-of-${flag.name}`);
}

test("every flag of the table parses into the field of the config loader's overrides it names", () => {
  const argv = ["agent", ...AGENT_RUN_FLAGS.flatMap((f) => { const v = sample(f); return v === undefined ? [`--${f.name}`] : [`--${f.name}`, v]; })];
  const parsed = parseAgentArgv(argv);
  assert.equal(parsed.command, "run");
  if (parsed.command !== "run") return;
  const overrides = parsed.args.overrides as Readonly<Record<string, unknown>>;
  for (const flag of AGENT_RUN_FLAGS) {
    const v = sample(flag);
    const expected = v === undefined ? true : flag.array ? [v] : v;
    assert.deepEqual(flag.field === "config" ? parsed.args.config : overrides[flag.field], expected, `--${flag.name}`);
  }
  // Every override field is set by exactly one flag: nothing lost, nothing doubled.
  assert.deepEqual(Object.keys(overrides).sort(), AGENT_RUN_FLAGS.filter((f) => f.field !== "config").map((f) => f.field).sort());
});

test("repeatable flags collect every occurrence; --no-proxy and --flag=value work", () => {
  const parsed = parseAgentArgv(["agent", "--endpoint", "10.0.0.1:80", "--endpoint=10.0.0.1:81/grpc", "--no-proxy", "--config=/etc/a.yaml"]);
  assert.deepEqual(parsed, { command: "run", args: { config: "/etc/a.yaml", overrides: { endpoints: ["10.0.0.1:80", "10.0.0.1:81/grpc"], proxy: false } } });
  assert.deepEqual(parseAgentArgv(["agent"]), { command: "run", args: { overrides: {} } });
  assert.deepEqual(parseAgentArgv(["agent", "cleanup"]), { command: "cleanup" });
  assert.equal(parseAgentArgv(["agent", "--help"]).command, "help");
  assert.equal(parseAgentArgv(["-h"]).command, "help");
});

test("every mistake is a usage error that names it", () => {
  const refused: Array<[string[], RegExp]> = [
    [[], /name a command: agent/],
    [["controller"], /unknown command "controller"/],
    [["agent", "--bogus"], /^unknown flag --bogus$/],
    [["agent", "--dns", "on"], /--dns must be one of enabled, disabled; got "on"/],
    [["agent", "--log-level", "loud"], /--log-level must be one of fatal, error/],
    [["agent", "--config", "a.yaml", "--config", "b.yaml"], /--config was given more than once; it takes one value/],
    [["agent", "--proxy", "--no-proxy"], /--proxy was given more than once; give --proxy or --no-proxy, once/],
    [["agent", "--controller"], /--controller/],
    [["agent", "--proxy=yes"], /--proxy/],
    [["agent", "install"], /unknown argument "install"/],
    [["agent", "cleanup", "--config", "a.yaml"], /agent cleanup takes no flags \(got --config\)/],
    [["agent", "cleanup", "now"], /unknown argument "cleanup now"/],
  ];
  for (const [argv, message] of refused) {
    assert.throws(() => parseAgentArgv(argv), (err: unknown) => err instanceof AgentUsageError && err.code === "MESHFED_USAGE" && message.test(err.message), argv.join(" "));
  }
});

test("the bundle runs on this parser: --help lists the table, a usage error exits 2, and yargs is not in it", async () => {
  const help = await node([BUNDLE, "--help"]);
  assert.equal(help.code, 0, help.stderr);
  for (const flag of AGENT_RUN_FLAGS) assert.match(help.stdout, new RegExp(`--${flag.name}\\b`), `--${flag.name} in the bundle's help`);

  const bad = await node([BUNDLE, "agent", "--dns", "on"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^meshfed: --dns must be one of enabled, disabled; got "on"/m);

  const invalid = await node([BUNDLE, "agent", "--controller", "c:1", "--ca-file", "/nonexistent", "--repo-address", "10.1.1.1:1"]);
  assert.equal(invalid.code, 1);
  assert.match(invalid.stderr, /meshfed agent: MESHFED_AGENT_CONFIG_INVALID: command-line flag --repo-address: must be a loopback address/);

  // yargs names itself in its own code (its locale files and the
  // "yargs" parser configuration key); none of that may be bundled.
  assert.doesNotMatch(await readFile(BUNDLE, "utf8"), /yargs/);
});

test("the full CLI's `meshfed agent --help` offers the same flags from the same table", async () => {
  const help = await node([CLI, "agent", "--help"]);
  assert.equal(help.code, 0, help.stderr);
  for (const flag of AGENT_RUN_FLAGS) assert.match(help.stdout, new RegExp(`--${flag.name}\\b`), `--${flag.name} in meshfed agent --help`);
});
