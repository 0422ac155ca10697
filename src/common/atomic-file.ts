import { open, rename, mkdir, unlink, readdir, stat } from "node:fs/promises";
import { dirname, basename, join } from "node:path";
import { randomBytes } from "node:crypto";

export interface AtomicWriteOptions {
  /**
   * false: no fsync of the file or the directory. Still never torn for a
   * reader, but not durable on its own: for a caller that made the write
   * durable elsewhere first (the file store's journal).
   */
  readonly sync?: boolean;
}

/**
 * Writes a file so that a reader (or a restart after SIGKILL) sees either the
 * old content or the new one, never a torn mix: write a temp file in the same
 * directory, fsync it, rename it over the target, then fsync the directory so
 * the rename itself survives a power loss.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o644, options: AtomicWriteOptions = {}): Promise<void> {
  const sync = options.sync ?? true;
  const dir = dirname(path);
  await mkdir(dir, { recursive: true });
  const tmp = join(dir, `.${basename(path)}.${randomBytes(6).toString("hex")}.tmp`); // matches TEMP_FILE
  const handle = await open(tmp, "wx", mode);
  try {
    await handle.writeFile(data);
    await handle.chmod(mode); // the umask may have narrowed or widened the open() mode
    if (sync) await handle.sync();
  } catch (err) {
    await handle.close();
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await handle.close();
  try {
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  if (!sync) return;
  const dirHandle = await open(dir, "r");
  try {
    await dirHandle.sync();
  } finally {
    await dirHandle.close();
  }
}

/** The temp file name writeFileAtomic uses: `.<name>.<12 hex>.tmp`. */
const TEMP_FILE = /^\..+\.[0-9a-f]{12}\.tmp$/;

/**
 * Deletes the temp files that writes interrupted by a crash left under `dir`
 * (recursively); they are never data, but would pile up one per crash.
 * Only files older than `olderThanMs` go, so a write in progress in another
 * process (whose temp file is seconds old at most) is never disturbed.
 * Returns how many were removed.
 */
export async function removeStaleTempFiles(dir: string, olderThanMs = 10 * 60_000, now = Date.now()): Promise<number> {
  let entries;
  try {
    entries = await readdir(dir, { recursive: true, withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return 0;
    throw err;
  }
  let removed = 0;
  for (const entry of entries) {
    if (!entry.isFile() || !TEMP_FILE.test(entry.name)) continue;
    const path = join(entry.parentPath, entry.name);
    try {
      if (now - (await stat(path)).mtimeMs < olderThanMs) continue;
      await unlink(path);
      removed++;
    } catch (err) {
      // Gone meanwhile (renamed by its writer, or swept by another process): fine.
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
  }
  return removed;
}
