/**
 * Log lines for a person at a terminal (the demo, `meshfed controller` run by
 * hand): pino's JSON turned into `time LEVEL [component] message key=value`,
 * coloured by level. Everything else (files, journald, a pipe to a log
 * shipper) keeps the JSON lines, which are the contract.
 */
import { writeSync } from "node:fs";

const LEVELS: Record<number, { name: string; color: string }> = {
  10: { name: "TRACE", color: "\x1b[90m" },
  20: { name: "DEBUG", color: "\x1b[36m" },
  30: { name: "INFO ", color: "\x1b[32m" },
  40: { name: "WARN ", color: "\x1b[33m" },
  50: { name: "ERROR", color: "\x1b[31m" },
  60: { name: "FATAL", color: "\x1b[35m" },
};
const RESET = "\x1b[0m";
const DIM = "\x1b[2m";
/** Fields every line has, shown in the prefix or not at all. */
const SHOWN_ELSEWHERE = new Set(["level", "time", "msg", "pid", "hostname", "component", "v"]);

export type LogFormat = "json" | "pretty";

/**
 * `MESHFED_LOG_FORMAT=json|pretty` decides; otherwise pretty only when stderr
 * is a terminal. Colour unless `NO_COLOR` is set (no-color.org).
 */
export function chooseLogFormat(env: NodeJS.ProcessEnv = process.env, stderrIsTty = process.stderr.isTTY === true): LogFormat {
  const asked = env.MESHFED_LOG_FORMAT;
  if (asked === "json" || asked === "pretty") return asked;
  return stderrIsTty ? "pretty" : "json";
}

function value(v: unknown): string {
  if (typeof v === "string") return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v);
  return JSON.stringify(v) ?? String(v);
}

/** One JSON log line as text; a line that is not JSON passes through unchanged. */
export function prettyLine(line: string, color: boolean): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line.endsWith("\n") ? line : `${line}\n`;
  }
  const level = LEVELS[Number(rec.level)] ?? { name: String(rec.level).toUpperCase().padEnd(5), color: "" };
  const time = typeof rec.time === "number" ? new Date(rec.time).toISOString().slice(11, 23) : "";
  const paint = (c: string, s: string) => (color && c !== "" ? `${c}${s}${RESET}` : s);
  const component = typeof rec.component === "string" ? ` ${paint(DIM, `[${rec.component}]`)}` : "";
  let stack = "";
  const fields: string[] = [];
  for (const [k, v] of Object.entries(rec)) {
    if (SHOWN_ELSEWHERE.has(k)) continue;
    if (k === "err" && v !== null && typeof v === "object") {
      const err = v as { message?: unknown; stack?: unknown };
      fields.push(`err=${value(err.message ?? v)}`);
      // A stack is worth its lines only for errors (warnings name expected failures).
      if (Number(rec.level) >= 50 && typeof err.stack === "string") stack = `\n    ${err.stack.split("\n").slice(1).map((l) => l.trim()).join("\n    ")}`;
      continue;
    }
    fields.push(`${k}=${value(v)}`);
  }
  const rest = fields.length > 0 ? ` ${paint(DIM, fields.join(" "))}` : "";
  return `${paint(DIM, time)} ${paint(level.color, level.name)}${component} ${typeof rec.msg === "string" ? rec.msg : value(rec.msg ?? "")}${rest}${stack}\n`;
}

/** A pino destination writing pretty lines to stderr, synchronously (nothing lost at exit). */
export function prettyStderr(color = process.env.NO_COLOR === undefined): { write(chunk: string): void } {
  return { write: (chunk: string) => void writeSync(2, prettyLine(chunk.replace(/\n$/, ""), color)) };
}
