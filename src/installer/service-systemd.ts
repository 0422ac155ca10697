/**
 * Service manager "systemd": the unit from agents/meshfed-agent.service,
 * rendered for this agent's paths (one unit per service, so a host can run
 * several agents), run as the unprivileged `meshfed-agent` user.
 */
import { readFileSync } from "node:fs";
import { MeshfedError } from "../common/errors.js";
import { shellQuote as q, type RemoteShell } from "./remote-shell.js";
import type { AgentLayout } from "./layout.js";
import type { ServiceManager, ServiceManagerOptions } from "./service-manager.js";
import { SERVICE_ERROR } from "./service-none.js";
import { agentCommand } from "./agent-command.js";

export const AGENT_USER = "meshfed-agent";
const TEMPLATE_FILE = new URL("../../../agents/meshfed-agent.service", import.meta.url);

let template: string | undefined;
function unitTemplate(): string {
  template ??= readFileSync(TEMPLATE_FILE, "utf8");
  return template;
}

/** systemd quoting for ExecStart words: only what needs it. */
function unitWord(word: string): string {
  return /^[A-Za-z0-9_./:@%+=,-]+$/.test(word) ? word : `"${word.replace(/(["\\])/g, "\\$1")}"`;
}

/**
 * The template with this agent's command, paths and name. The template keeps
 * its hardening; what pointed at the single-agent layout (/etc/meshfed,
 * /var/lib/meshfed-agent) points at the agent's directory instead.
 */
export function renderUnit(layout: AgentLayout, node: string, service: string, source: string = unitTemplate(), capture = false): string {
  const replaced = new Set<string>();
  const lines: string[] = [];
  for (const line of source.split("\n")) {
    const key = /^([A-Za-z]+)=/.exec(line)?.[1];
    switch (key) {
      case "Description":
        lines.push(`${line} for ${service}`);
        break;
      case "ExecStart":
        lines.push(`ExecStart=${agentCommand(layout, node).map(unitWord).join(" ")}`);
        break;
      case "ReadWritePaths":
        // iptables-legacy takes /run/xtables.lock ("-": no error where it does not exist).
        lines.push(`ReadWritePaths=${unitWord(layout.dataDir)}${capture ? " -/run/xtables.lock" : ""}`);
        break;
      // Capture: root writes the nat table (CAP_NET_ADMIN, CAP_NET_RAW), starts Pipy as
      // meshfed-proxy (CAP_SETUID, CAP_SETGID; root -> non-root drops every capability of
      // Pipy) and signals it (CAP_KILL). Nothing else of root's: no CAP_DAC_OVERRIDE, so
      // the data directory is root's own.
      case "User":
      case "Group":
        lines.push(capture ? `${key}=root` : line);
        break;
      case "CapabilityBoundingSet":
      case "AmbientCapabilities":
        lines.push(capture ? `${key}=CAP_NET_BIND_SERVICE CAP_NET_ADMIN CAP_NET_RAW CAP_SETUID CAP_SETGID CAP_KILL` : line);
        break;
      // The agent's state and config live in its install directory, not in the systemd-managed ones.
      case "StateDirectory":
      case "StateDirectoryMode":
      case "ConfigurationDirectory":
        break;
      default:
        lines.push(line);
    }
    if (key !== undefined) replaced.add(key);
  }
  for (const needed of ["ExecStart", "ReadWritePaths", "User"]) {
    if (!replaced.has(needed)) throw new MeshfedError("MESHFED_INSTALL_UNIT_TEMPLATE", `the unit template has no ${needed}= line`);
  }
  return lines.join("\n");
}

export function systemdServiceManager({ layout, node, service, capture = false }: ServiceManagerOptions): ServiceManager {
  const run = async (shell: RemoteShell, script: string, what: string) => {
    const r = await shell.run(script);
    if (r.code !== 0) throw new MeshfedError(SERVICE_ERROR, `${what} failed (exit ${r.code}): ${(r.stderr || r.stdout).trim()}`);
  };
  const unit = q(layout.unitName);
  return {
    kind: "systemd",
    files: () => [{ path: layout.unitFile, content: Buffer.from(renderUnit(layout, node, service, undefined, capture)), mode: 0o644 }],
    prepare: async (shell) => {
      if (capture) {
        // The agent runs as root without CAP_DAC_OVERRIDE: its files must be root's.
        await run(shell, `chown -R root:root ${q(layout.dataDir)} && (chown root:root ${q(layout.tokenFile)} 2>/dev/null || true)`, "handing the data directory to root");
        return;
      }
      await run(shell, `id -u ${AGENT_USER} >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin ${AGENT_USER}`, `creating the ${AGENT_USER} user`);
      // Only the data directory and the token belong to the agent; the bundle and config stay root's.
      await run(shell, `chown -R ${AGENT_USER}:${AGENT_USER} ${q(layout.dataDir)} && (chown ${AGENT_USER}:${AGENT_USER} ${q(layout.tokenFile)} 2>/dev/null || true)`, "handing the data directory to the agent user");
    },
    restart: async (shell) => {
      await run(shell, "systemctl daemon-reload", "systemctl daemon-reload");
      await run(shell, `systemctl enable ${unit}`, `enabling ${layout.unitName}`);
      await run(shell, `systemctl restart ${unit}`, `starting ${layout.unitName}`);
    },
    // systemctl stop waits for the unit to be down (the agent drains Pipy first).
    stop: async (shell) => run(shell, `systemctl stop ${unit}`, `stopping ${layout.unitName}`),
    runningTest: `systemctl is-active --quiet ${unit}`,
    isRunning: async (shell) => (await shell.run(`systemctl is-active --quiet ${unit}`)).code === 0,
    remove: async (shell) => {
      // Not installed is not an error: uninstall must also clean up after a half-done install.
      await shell.run(`systemctl disable --now ${unit}`);
      await run(shell, `rm -f ${q(layout.unitFile)}`, `removing ${layout.unitFile}`);
      await shell.run("systemctl daemon-reload");
    },
    logTail: async (shell) => (await shell.run(`journalctl -u ${unit} -n 20 --no-pager 2>/dev/null`)).stdout,
  };
}
