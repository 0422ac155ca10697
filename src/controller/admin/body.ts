import type { IncomingMessage } from "node:http";
import type { z } from "zod";
import { MeshfedError } from "../../common/errors.js";

const MAX_BODY_BYTES = 64 * 1024;

/** Reads a JSON request body (bounded) and validates it; errors are 400s with a named code. */
export async function readJsonBody<T extends z.ZodType>(req: IncomingMessage, schema: T): Promise<z.output<T>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new MeshfedError("MESHFED_BODY_TOO_LARGE", `request body over ${MAX_BODY_BYTES} bytes`, { details: { status: 413 } });
    chunks.push(chunk);
  }
  let value: unknown;
  try {
    value = chunks.length === 0 ? {} : JSON.parse(Buffer.concat(chunks).toString("utf8"));
  } catch (err) {
    throw new MeshfedError("MESHFED_BODY_INVALID", `request body is not JSON: ${(err as Error).message}`, { details: { status: 400 } });
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new MeshfedError("MESHFED_BODY_INVALID", `${issue.path.join(".") || "body"}: ${issue.message}`, { details: { status: 400 } });
  }
  return parsed.data;
}
