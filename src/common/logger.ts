import { pino, type Logger, type LevelWithSilent } from "pino";
import { chooseLogFormat, prettyStderr } from "./pretty-log.js";

export type { Logger };

export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

/**
 * The root logger writes to stderr so that stdout stays free for the CLI's
 * own output (tables, JSON) and for the demo's "where to look" text: JSON
 * lines, or readable coloured lines when stderr is a terminal
 * (pretty-log.ts; `MESHFED_LOG_FORMAT=json|pretty` overrides).
 * Components take `root.child({ component })`.
 */
export function createLogger(level: LevelWithSilent = "info"): Logger {
  const destination = chooseLogFormat() === "pretty" ? prettyStderr() : pino.destination({ fd: 2, sync: true });
  return pino({ level, base: { pid: process.pid } }, destination);
}

/** For tests and library use: a logger that drops everything. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
