/**
 * Service manager "none": the agent runs detached (its own session, so it
 * survives the SSH connection) with a pid file, logs to agent.log. No restart
 * on crash: use systemd for that.
 */
import { MeshfedError } from "../common/errors.js";
import { agentCommand } from "./agent-command.js";
import { shellQuote as q, type RemoteShell } from "./remote-shell.js";
import type { ServiceManager, ServiceManagerOptions } from "./service-manager.js";

export const SERVICE_ERROR = "MESHFED_INSTALL_SERVICE";

export function noServiceManager({ layout, node }: ServiceManagerOptions): ServiceManager {
  // The pid is ours only if that process still runs our bundle: pids get reused.
  const running = `pid=$(cat ${q(layout.pidFile)} 2>/dev/null) && [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && tr '\\0' ' ' < /proc/$pid/cmdline | grep -qF -- ${q(layout.script)}`;
  const stop = [
    `if ${running}; then`,
    '  kill -TERM "$pid"; i=0',
    // The agent drains (Pipy gets SIGINT and a grace period) before it exits.
    '  while kill -0 "$pid" 2>/dev/null && [ $i -lt 250 ]; do sleep 0.1; i=$((i+1)); done',
    '  kill -KILL "$pid" 2>/dev/null || true',
    "fi",
    `rm -f ${q(layout.pidFile)}`,
  ].join("\n");
  // `sh -c 'echo $$ > pid; exec node ...'` under setsid: the pid written is the agent's own.
  const inner = `echo $$ > ${q(layout.pidFile)}; exec ${agentCommand(layout, node).map(q).join(" ")}`;
  const start = `cd ${q(layout.dir)} && (command -v setsid >/dev/null && exec setsid sh -c ${q(inner)} || exec sh -c ${q(inner)}) >> ${q(layout.logFile)} 2>&1 < /dev/null &`;
  const run = async (shell: RemoteShell, script: string, what: string) => {
    const r = await shell.run(script);
    if (r.code !== 0) throw new MeshfedError(SERVICE_ERROR, `${what} failed (exit ${r.code}): ${r.stderr.trim()}`);
  };
  return {
    kind: "none",
    files: () => [],
    prepare: async () => undefined,
    restart: async (shell) => {
      await run(shell, `${stop}\n${start}`, "starting the agent");
    },
    stop: async (shell) => run(shell, stop, "stopping the agent"),
    runningTest: `{ ${running}; }`,
    isRunning: async (shell) => (await shell.run(running)).code === 0,
    remove: async (shell) => run(shell, stop, "stopping the agent"),
    logTail: async (shell) => (await shell.run(`tail -n 20 ${q(layout.logFile)} 2>/dev/null`)).stdout,
  };
}
