/** Runs a short command for the transparent demo; a failure is a named error with the command's stderr. */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { MeshfedError } from "../../common/errors.js";
import { DEMO_ERRORS } from "./preflight.js";

const execFileAsync = promisify(execFile);

export async function run(args: readonly string[], timeoutMs = 30_000): Promise<string> {
  const [bin, ...rest] = args;
  try {
    return (await execFileAsync(bin!, rest, { timeout: timeoutMs })).stdout;
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr?.trim();
    throw new MeshfedError(DEMO_ERRORS.commandFailed, `${args.join(" ")}: ${stderr || (err as Error).message}`, { cause: err, details: { command: args[0] } });
  }
}
