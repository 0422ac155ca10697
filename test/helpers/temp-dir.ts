/**
 * Temp directories for tests, removed when the test file's process exits.
 *
 * Not in a `t.after` hook: node:test runs a test's after hooks in the order
 * they were registered, so a directory made before the agent or controller
 * that writes into it was removed while that writer still ran (its close is
 * a later hook), and the writer then put files back. Those directories
 * stayed in the temp dir after every run. At exit every test's hooks have
 * run, so every writer the tests own is closed.
 */
import { rmSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

const made = new Set<string>();

function removeAll(): void {
  for (const dir of made) {
    try {
      rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
    } catch (err) {
      // An exit listener must not throw (it would change the file's exit code); say what was left.
      process.stderr.write(`temp dir ${dir} not removed: ${(err as Error).message}\n`);
    }
  }
  made.clear();
}

export async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  if (made.size === 0) process.once("exit", removeAll);
  made.add(dir);
  return dir;
}
