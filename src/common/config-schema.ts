/** zod building blocks shared by every config file schema (controller, providers, agent). */
import { z } from "zod";
import { parseHostPort } from "./address.js";
import { parseDuration } from "./duration.js";

/** A duration string ("24h", "90m", "500ms") parsed to milliseconds, with the parser's message on error. */
export const durationSchema = z.string().transform((text, ctx) => {
  try {
    return parseDuration(text);
  } catch (err) {
    ctx.addIssue({ code: "custom", message: (err as Error).message });
    return z.NEVER;
  }
});

/** A `host:port` string, validated by the same parser that later reads it; `example` goes into the message. */
export function hostPortSchema(example: string) {
  return z.string().refine((text) => {
    try {
      parseHostPort(text);
      return true;
    } catch {
      return false;
    }
  }, { message: `expected host:port, e.g. ${example}` });
}
