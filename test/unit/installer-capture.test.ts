// The installer's capture decisions (docs/installer.md "Traffic capture"):
// auto picks transparent only when the host can and says why not otherwise;
// the proxy user is created once; the probe reads iptables without changing
// anything; the agent config and install record carry the choice.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "yaml";
import { decideCapture, ensureProxyUser, PROXY_USER } from "../../src/installer/capture.js";
import { renderAgentConfig } from "../../src/installer/agent-files.js";
import { agentLayout } from "../../src/installer/layout.js";
import { probeHost, type HostFacts } from "../../src/installer/probe.js";
import { renderUnit } from "../../src/installer/service-systemd.js";
import type { RemoteShell } from "../../src/installer/remote-shell.js";
import { summaryRows } from "../../src/installer/summary.js";
import type { AgentSpec } from "../../src/installer/types.js";

const FACTS: HostFacts = { os: "Linux", arch: "x86_64", init: "systemd", root: true, nodeVersion: "v20.19.0", iptables: "yes", iptablesVersion: "v1.8.9 (nf_tables)" };
const SPEC: AgentSpec = { service: { namespace: "shop", name: "web" }, controller: ["10.0.0.1:15128"], endpoints: ["10.0.0.5:8080"], pipy: "/usr/local/bin/pipy", repoAddress: "127.0.0.1:15010", logLevel: "info", capture: "auto" };

/** Runs scripts with the local sh, PATH first through `bin` (stub commands). */
function localShell(bin: string): RemoteShell {
  return {
    run: (script) => new Promise((resolve) => {
      execFile("sh", ["-c", script], { env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? ""}` } }, (err, stdout, stderr) => {
        resolve({ code: err === null ? 0 : typeof (err as { code?: unknown }).code === "number" ? (err as { code: number }).code : 1, stdout, stderr });
      });
    }),
  };
}

test("decideCapture: auto is transparent only where it can work, and says why not", () => {
  const cases: Array<{ name: string; spec?: Partial<AgentSpec>; facts?: Partial<HostFacts>; want: string }> = [
    { name: "iptables usable", want: "transparent: iptables v1.8.9 (nf_tables)" },
    { name: "nft only", facts: { iptables: "nft-only" }, want: "none: the host has nftables but no iptables (install the iptables package)" },
    { name: "no iptables", facts: { iptables: "missing" }, want: "none: the host has no iptables" },
    { name: "not usable", facts: { iptables: "unusable" }, want: "none: iptables-save failed on the host (not root?)" },
    { name: "no proxy", spec: { pipy: undefined }, want: "none: the agent runs without a proxy (--no-proxy)" },
    { name: "two agents on the host", spec: { sharedHost: true }, want: "none: several agents on this host: capture needs one agent per host" },
    { name: "none asked", spec: { capture: "none" }, want: "none: --capture none" },
    { name: "absent (programmatic default)", spec: { capture: undefined }, want: "none: --capture none" },
  ];
  for (const c of cases) {
    const d = decideCapture({ ...SPEC, ...c.spec }, { ...FACTS, ...c.facts });
    assert.equal(`${d.mode}: ${d.reason}`, c.want, c.name);
  }
  assert.throws(() => decideCapture({ ...SPEC, capture: "transparent" }, { ...FACTS, iptables: "missing" }), { code: "MESHFED_INSTALL_CAPTURE_UNAVAILABLE", message: /no iptables/ });
});

test("the proxy user is created once: a second run finds it and changes nothing", async (t) => {
  const bin = await mkdtemp(join(tmpdir(), "mfcap-bin-"));
  t.after(() => rm(bin, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 }));
  const log = join(bin, "calls");
  // Stub id/useradd over a fake passwd file: nothing on this machine changes.
  await writeFile(join(bin, "id"), `#!/bin/sh\necho "id $*" >> ${log}\ngrep -q "^$2:" ${bin}/passwd 2>/dev/null\n`);
  await writeFile(join(bin, "useradd"), `#!/bin/sh\necho "useradd $*" >> ${log}\neval last=\\\${$#}\necho "$last:x:999:999::/nonexistent:/usr/sbin/nologin" >> ${bin}/passwd\n`);
  await chmod(join(bin, "id"), 0o755);
  await chmod(join(bin, "useradd"), 0o755);
  const shell = localShell(bin);
  await ensureProxyUser(shell);
  await ensureProxyUser(shell);
  const calls = (await readFile(log, "utf8")).trim().split("\n");
  assert.deepEqual(calls.filter((c) => c.startsWith("useradd")), [`useradd --system --no-create-home --home-dir /nonexistent --shell ${await nologin()} --user-group ${PROXY_USER}`]);
  assert.equal(calls.filter((c) => c.startsWith("id")).length, 2);
});

async function nologin(): Promise<string> {
  return new Promise((resolve) => execFile("sh", ["-c", "command -v nologin || echo /usr/sbin/nologin"], (_e, out) => resolve(out.trim())));
}

test("probe: reads whether iptables works here without changing anything", async (t) => {
  const bin = await mkdtemp(join(tmpdir(), "mfcap-bin-"));
  t.after(() => rm(bin, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 }));
  const facts = await probeHost(localShell(bin), process.execPath);
  if (process.getuid?.() === 0) {
    assert.equal(facts.iptables === "yes" || facts.iptables === "missing", true, facts.iptables);
    if (facts.iptables === "yes") assert.match(facts.iptablesVersion, /^v\d/);
  } else {
    assert.notEqual(facts.iptables, "yes");
  }
  // A host whose iptables-save fails (no root, no module) reads as unusable.
  await writeFile(join(bin, "iptables-save"), "#!/bin/sh\nexit 4\n");
  await chmod(join(bin, "iptables-save"), 0o755);
  assert.equal((await probeHost(localShell(bin), process.execPath)).iptables, "unusable");
});

test("agent config and summary carry the capture choice", () => {
  const layout = agentLayout("/opt/meshfed", SPEC.service, "/etc/systemd/system");
  const yaml = parse(renderAgentConfig(SPEC, layout, "transparent")) as { proxy: { user?: string }; capture?: { mode: string } };
  assert.equal(yaml.proxy.user, PROXY_USER);
  assert.deepEqual(yaml.capture, { mode: "transparent" });
  const plain = parse(renderAgentConfig(SPEC, layout)) as { proxy: { user?: string }; capture?: unknown };
  assert.equal(plain.proxy.user, undefined);
  assert.equal(plain.capture, undefined);
  const { rows } = summaryRows([{ job: { host: "vm-1", service: "shop/web" }, outcome: "installed", proxyId: "p1", capture: "none (the host has no iptables)", ms: 1200 }]);
  assert.equal(rows[0]![4], "proxy p1; capture none (the host has no iptables)");
});

test("systemd unit under capture: root with only the network, setuid and kill capabilities; otherwise unchanged", () => {
  const layout = agentLayout("/opt/meshfed", SPEC.service, "/etc/systemd/system");
  const plain = renderUnit(layout, "/usr/bin/node", "shop/web");
  const captured = renderUnit(layout, "/usr/bin/node", "shop/web", undefined, true);
  const line = (unit: string, key: string) => unit.split("\n").find((l) => l.startsWith(`${key}=`));
  assert.equal(line(plain, "User"), "User=meshfed-agent");
  assert.equal(line(captured, "User"), "User=root");
  assert.equal(line(captured, "Group"), "Group=root");
  assert.equal(line(captured, "CapabilityBoundingSet"), "CapabilityBoundingSet=CAP_NET_BIND_SERVICE CAP_NET_ADMIN CAP_NET_RAW CAP_SETUID CAP_SETGID CAP_KILL");
  assert.equal(line(captured, "ReadWritePaths"), `ReadWritePaths=${layout.dataDir} -/run/xtables.lock`);
  // Everything else, the hardening included, is the same unit.
  const rest = (unit: string) => unit.split("\n").filter((l) => !/^(User|Group|CapabilityBoundingSet|AmbientCapabilities|ReadWritePaths)=/.test(l));
  assert.deepEqual(rest(captured), rest(plain));
  assert.equal(line(captured, "NoNewPrivileges"), "NoNewPrivileges=yes");
});
