/**
 * A stand-in for systemd on a test host that has none: wraps a real remote
 * shell, records every service-management command (systemctl, useradd,
 * chown, journalctl), and acts them out: `systemctl restart` runs the unit's
 * ExecStart detached (pid file next to the agent, so test cleanup finds it),
 * `is-active` checks that pid, `disable --now` kills it. Users are never
 * created and nothing is chowned on the test machine.
 */
import { readFileSync } from "node:fs";
import { posix } from "node:path";
import type { CommandResult, RemoteShell, RunOptions } from "../../src/installer/remote-shell.js";

const MANAGED = /^(systemctl|journalctl|id -u meshfed-agent|chown )/;

export interface FakeSystemd extends RemoteShell {
  /** Every service-management command, in order. */
  readonly commands: string[];
}

export function fakeSystemdShell(inner: RemoteShell, unitDir: string): FakeSystemd {
  const commands: string[] = [];
  const unitPath = (quoted: string) => posix.join(unitDir, quoted.replace(/^'|'$/g, ""));
  const pidFileOf = (unitFile: string) => {
    const exec = /^ExecStart=(.*)$/m.exec(readFileSync(unitFile, "utf8"))![1]!;
    const config = /--config (\S+)/.exec(exec)![1]!;
    return { exec, pidFile: posix.join(posix.dirname(config), "agent.pid"), log: posix.join(posix.dirname(config), "agent.log") };
  };
  const alive = (pidFile: string) => `{ pid=$(cat '${pidFile}' 2>/dev/null) && [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; }`;
  const ok: CommandResult = { code: 0, stdout: "", stderr: "" };
  return {
    commands,
    run: async (script: string, options?: RunOptions) => {
      // is-active also appears inside larger status scripts: rewrite it in place.
      const rewritten = script.replace(/systemctl is-active --quiet ('[^']+')/g, (_m, unit: string) => {
        try {
          return alive(pidFileOf(unitPath(unit)).pidFile);
        } catch {
          return "false"; // no unit file yet: inactive
        }
      });
      if (!MANAGED.test(script)) return inner.run(rewritten, options);
      commands.push(script);
      const [, verb, unit] = /^systemctl (\S+)(?: --now)? ('[^']+')?/.exec(script) ?? [];
      if (verb === "restart" && unit !== undefined) {
        const { exec, pidFile, log } = pidFileOf(unitPath(unit));
        return inner.run(`(setsid sh -c 'echo $$ > ${pidFile}; exec ${exec}') >> '${log}' 2>&1 < /dev/null &`);
      }
      if ((verb === "disable" || verb === "stop") && unit !== undefined) {
        try {
          const { pidFile } = pidFileOf(unitPath(unit));
          return inner.run(`if ${alive(pidFile)}; then kill "$pid"; while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done; fi`);
        } catch {
          return ok; // no unit file: nothing runs
        }
      }
      return ok;
    },
  };
}
