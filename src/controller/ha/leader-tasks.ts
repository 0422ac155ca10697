/**
 * Runs a periodic task only while this replica leads (docs/ha.md): at once
 * on becoming leader, then every `intervalMs`. A failure is logged and the
 * next tick tries again.
 */
import type { Logger } from "../../common/logger.js";
import type { Leadership } from "./leadership.js";

export interface LeaderTask {
  readonly name: string;
  readonly intervalMs: number;
  run(): Promise<void>;
}

export function runWhileLeader(leadership: Leadership, task: LeaderTask, logger: Logger, signal: AbortSignal): void {
  let running = false;
  const tick = () => {
    if (signal.aborted || running || !leadership.isLeader()) return;
    running = true;
    task.run()
      .catch((err: unknown) => logger.error({ err, task: task.name, code: "MESHFED_LEADER_TASK_FAILED" }, "leader task failed; retrying on the next tick"))
      .finally(() => {
        running = false;
      });
  };
  const timer = setInterval(tick, task.intervalMs);
  timer.unref();
  const unsubscribe = leadership.on("change", (leader) => {
    if (leader) tick();
  });
  signal.addEventListener("abort", () => {
    clearInterval(timer);
    unsubscribe();
  }, { once: true });
  tick();
}
