/**
 * Watches a file or a directory and calls back, debounced, after it changed.
 *
 * Why the parent directory: editors such as vim save by writing a temp file and
 * renaming it over the original. An inotify watch on the file follows the old
 * inode, which is gone, so the watcher goes silent. Watching the directory and
 * filtering by name sees the rename. A directory is watched itself (its entries
 * are what matter).
 *
 * Why a poll as well: fs.watch can miss events (network filesystems, the
 * watched directory itself removed and recreated, inotify limits reached). A
 * cheap stat signature every `pollMs` (default 2 s, timer unref'ed) catches
 * those; when fs.watch has failed the poll also tries to re-establish it.
 *
 * Calls to `onChange` never overlap: a change seen while one runs schedules
 * exactly one more run after it. Everything is released when `signal` aborts
 * or `close()` is called; nothing is left to keep the process alive.
 */
import { watch, type FSWatcher } from "node:fs";
import { readdir, stat } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

export interface WatchPathOptions {
  /** Quiet time after the last event before `onChange` runs. Default 100 ms. */
  readonly debounceMs?: number;
  /** Interval of the safety-net stat poll; 0 disables it. Default 2000 ms. */
  readonly pollMs?: number;
  /** Stops the watcher. */
  readonly signal?: AbortSignal;
  /** "file" watches the parent directory filtered by name; default: detected, "file" when missing. */
  readonly kind?: "file" | "directory";
  /** For a directory: which entry names matter (e.g. only `*.yaml`). Default: all. */
  readonly filter?: (name: string) => boolean;
  readonly onChange: () => void | Promise<void>;
  /** Errors thrown by `onChange` or by the watcher itself; default: ignored. */
  readonly onError?: (err: unknown) => void;
}

export interface PathWatcher {
  /** Idempotent; also triggered by the abort signal. */
  close(): void;
  readonly closed: boolean;
}

export async function watchPath(path: string, options: WatchPathOptions): Promise<PathWatcher> {
  let kind = options.kind;
  if (kind === undefined) {
    const st = await stat(path).catch(() => undefined);
    kind = st?.isDirectory() === true ? "directory" : "file";
  }
  const watcher = new Watcher(path, kind, options);
  await watcher.init();
  return watcher;
}

class Watcher implements PathWatcher {
  readonly #path: string;
  readonly #kind: "file" | "directory";
  readonly #options: WatchPathOptions;
  readonly #debounceMs: number;
  #fsWatcher: FSWatcher | undefined;
  /** Inode of the directory fs.watch is attached to; a new inode means it was replaced. */
  #watchedIno: bigint | undefined;
  #debounce: NodeJS.Timeout | undefined;
  #poll: NodeJS.Timeout | undefined;
  #signature = "";
  #running = false;
  #pending = false;
  #closed = false;
  readonly #onAbort = (): void => this.close();

  constructor(path: string, kind: "file" | "directory", options: WatchPathOptions) {
    this.#path = path;
    this.#kind = kind;
    this.#options = options;
    this.#debounceMs = options.debounceMs ?? 100;
  }

  get closed(): boolean {
    return this.#closed;
  }

  async init(): Promise<void> {
    const signal = this.#options.signal;
    if (signal?.aborted === true) {
      this.#closed = true;
      return;
    }
    signal?.addEventListener("abort", this.#onAbort, { once: true });
    this.#signature = await this.#computeSignature();
    if (this.#closed) return;
    await this.#startFsWatch();
    const pollMs = this.#options.pollMs ?? 2000;
    if (pollMs > 0) {
      this.#poll = setInterval(() => void this.#pollOnce(), pollMs);
      this.#poll.unref();
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#options.signal?.removeEventListener("abort", this.#onAbort);
    this.#fsWatcher?.close();
    this.#fsWatcher = undefined;
    clearTimeout(this.#debounce);
    clearInterval(this.#poll);
  }

  #target(): string {
    return this.#kind === "file" ? dirname(this.#path) : this.#path;
  }

  async #startFsWatch(): Promise<void> {
    const target = this.#target();
    const name = basename(this.#path);
    this.#watchedIno = (await stat(target, { bigint: true }).catch(() => undefined))?.ino;
    if (this.#closed) return;
    try {
      const w = watch(target, { persistent: true }, (_event, filename) => {
        // filename can be null on some platforms: then every event counts.
        if (filename !== null) {
          const f = filename.toString();
          if (this.#kind === "file" && f !== name) return;
          if (this.#kind === "directory" && this.#options.filter !== undefined && !this.#options.filter(f)) return;
        }
        this.#schedule();
      });
      w.on("error", (err) => {
        // The watched directory went away (or similar): drop the watcher and
        // let the poll notice the change and re-establish it.
        w.close();
        if (this.#fsWatcher === w) this.#fsWatcher = undefined;
        this.#options.onError?.(err);
        this.#schedule();
      });
      this.#fsWatcher = w;
    } catch (err) {
      this.#fsWatcher = undefined;
      this.#options.onError?.(err);
    }
  }

  #schedule(): void {
    if (this.#closed) return;
    clearTimeout(this.#debounce);
    this.#debounce = setTimeout(() => void this.#fire(), this.#debounceMs);
  }

  async #fire(): Promise<void> {
    this.#debounce = undefined;
    if (this.#closed) return;
    if (this.#running) {
      this.#pending = true;
      return;
    }
    this.#running = true;
    try {
      // Recorded before the callback reads, so a write racing with the read is
      // seen by the next poll rather than lost.
      this.#signature = await this.#computeSignature();
      if (!this.#closed) await this.#options.onChange();
    } catch (err) {
      this.#options.onError?.(err);
    } finally {
      this.#running = false;
    }
    if (this.#pending && !this.#closed) {
      this.#pending = false;
      this.#schedule();
    }
  }

  async #pollOnce(): Promise<void> {
    if (this.#closed) return;
    // A directory removed and recreated keeps its name but not its inode; the
    // old inotify watch is then silent for good, so attach a new one.
    const ino = (await stat(this.#target(), { bigint: true }).catch(() => undefined))?.ino;
    if (this.#closed) return;
    if (this.#fsWatcher !== undefined && ino !== this.#watchedIno) {
      this.#fsWatcher.close();
      this.#fsWatcher = undefined;
    }
    if (this.#fsWatcher === undefined && ino !== undefined) await this.#startFsWatch();
    const sig = await this.#computeSignature();
    // A pending debounce already covers this change (the signature catches up only
    // when the callback runs): rescheduling would push it back by up to a debounce,
    // and a poll faster than the debounce would postpone it for good.
    if (!this.#closed && sig !== this.#signature && !this.#running && this.#debounce === undefined) this.#schedule();
  }

  async #computeSignature(): Promise<string> {
    if (this.#kind === "file") return statSignature(this.#path);
    let names: string[];
    try {
      names = await readdir(this.#path);
    } catch {
      return "missing";
    }
    const filter = this.#options.filter;
    const picked = names.filter((n) => filter === undefined || filter(n)).sort();
    const parts = await Promise.all(picked.map(async (n) => `${n}=${await statSignature(join(this.#path, n))}`));
    return parts.join("\n");
  }
}

async function statSignature(path: string): Promise<string> {
  try {
    const st = await stat(path, { bigint: true });
    return `${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
  } catch {
    return "missing";
  }
}
