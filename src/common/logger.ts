import { pino, type Logger, type LevelWithSilent } from "pino";

export type { Logger };

export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

/**
 * The root logger writes JSON lines to stderr so that stdout stays free for
 * the CLI's own output (tables, JSON) and for the demo's "where to look" text.
 * Components take `root.child({ component })`.
 */
export function createLogger(level: LevelWithSilent = "info"): Logger {
  return pino({ level, base: { pid: process.pid } }, pino.destination({ fd: 2, sync: true }));
}

/** For tests and library use: a logger that drops everything. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
