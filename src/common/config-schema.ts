/** zod building blocks shared by every config file schema (controller, providers, agent). */
import { z } from "zod";
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
