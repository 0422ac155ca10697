import { open, readFile, readdir, unlink, mkdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import { removeStaleTempFiles, writeFileAtomic } from "../../common/atomic-file.js";
import { Listeners } from "../../common/emitter.js";
import { MeshfedError } from "../../common/errors.js";
import { Journal, JOURNAL_FILE, readJournal, type JournalEntry } from "./file-journal.js";
import { sameBytes, type PutOptions, type StateStore, type StoreChange } from "./types.js";

const KEY = /^[a-z0-9._-]+(\/[a-z0-9._-]+)*$/;
/** Checkpoint (sync the applied files, empty the journal) past either bound. */
const CHECKPOINT_BYTES = 8 * 1024 * 1024;
const CHECKPOINT_ENTRIES = 4096;

/** One write waiting for the next group commit. */
interface PendingWrite {
  readonly key: string;
  readonly path: string;
  /** put: unconditional; create: only if absent; cas: only if it holds `expected`; delete. */
  readonly kind: "put" | "create" | "cas" | "delete";
  readonly value: Buffer | undefined;
  readonly expected?: Uint8Array;
  readonly secret: boolean;
  readonly resolve: (written: boolean) => void;
  readonly reject: (err: unknown) => void;
}

/**
 * The embedded default: one file per key under the data directory. Secrets
 * get mode 0600; the directory itself is 0700 because it holds the CA key.
 *
 * One process owns the directory, so atomicity between writers is an
 * in-process matter: every write goes through one flush loop, which makes
 * create and compareAndPut atomic, and watchers are told by an in-process
 * emitter.
 *
 * Group commit (issue 17): writes issued while a batch is being committed
 * wait for the next one; a batch is decided in order (create and
 * compareAndPut see the writes before them), appended to the journal and
 * made durable with one fdatasync (file-journal.ts), then applied to the
 * files (atomic rename, no fsync) before any of its promises resolves. So a
 * write is durable when its promise resolves, as before, and its file is in
 * place for any reader; a crash between the two is repaired by the replay in
 * `open`. Many enrollments at once therefore share one fdatasync instead of
 * paying two fsyncs each, one after the other.
 */
export class FileStore implements StateStore {
  readonly kind = "file";
  readonly #root: string;
  readonly #changes = new Listeners<StoreChange>();
  #pending: PendingWrite[] = [];
  #flushing: Promise<void> | undefined;
  #journal: Journal | undefined;
  /** Files applied since the last checkpoint (synced at the checkpoint). */
  readonly #unsynced = new Set<string>();
  /** Set when a journal append or an apply failed: nothing is written after that. */
  #broken: unknown;
  #commits = 0;
  #committedWrites = 0;

  /** Use FileStore.open: a store that skipped the replay would overwrite a crash's journal. */
  private constructor(root: string) {
    this.#root = root;
  }

  /** Opens the directory and replays what a crash left in the journal. */
  static async open(root: string): Promise<FileStore> {
    await mkdir(root, { recursive: true, mode: 0o700 });
    await removeStaleTempFiles(root);
    const store = new FileStore(root);
    await store.#replay();
    return store;
  }

  /** Group commits (journal fdatasyncs) so far and the writes they carried: how well writes are shared. */
  get commitStats(): { commits: number; writes: number } {
    return { commits: this.#commits, writes: this.#committedWrites };
  }

  #path(key: string): string {
    if (!KEY.test(key) || key.split("/").some((s) => s === "." || s === "..")) {
      throw new MeshfedError("MESHFED_STORE_BAD_KEY", `invalid store key "${key}"`);
    }
    return join(this.#root, ...key.split("/"));
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    try {
      return await readFile(this.#path(key));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw err;
    }
  }

  async put(key: string, value: Uint8Array | string, options: PutOptions = {}): Promise<void> {
    await this.#submit(key, "put", value, options);
  }

  create(key: string, value: Uint8Array | string, options: PutOptions = {}): Promise<boolean> {
    return this.#submit(key, "create", value, options);
  }

  compareAndPut(key: string, expected: Uint8Array, value: Uint8Array | string, options: PutOptions = {}): Promise<boolean> {
    return this.#submit(key, "cas", value, options, expected);
  }

  async delete(key: string): Promise<void> {
    await this.#submit(key, "delete", undefined, {});
  }

  #submit(key: string, kind: PendingWrite["kind"], value: Uint8Array | string | undefined, options: PutOptions, expected?: Uint8Array): Promise<boolean> {
    const path = this.#path(key);
    return new Promise<boolean>((resolve, reject) => {
      const bytes = value === undefined ? undefined : typeof value === "string" ? Buffer.from(value) : Buffer.from(value);
      this.#pending.push({ key, path, kind, value: bytes, ...(expected === undefined ? {} : { expected }), secret: options.secret === true, resolve, reject });
      this.#flushing ??= this.#flushLoop();
    });
  }

  /** Commits batches until nothing waits; one loop at a time. */
  async #flushLoop(): Promise<void> {
    try {
      // Let the writes issued in this tick join the first batch.
      await new Promise<void>((resolve) => setImmediate(resolve));
      while (this.#pending.length > 0) {
        const batch = this.#pending;
        this.#pending = [];
        await this.#commit(batch);
      }
    } finally {
      this.#flushing = undefined;
    }
  }

  async #commit(batch: readonly PendingWrite[]): Promise<void> {
    if (this.#broken !== undefined) {
      for (const w of batch) w.reject(this.#brokenError());
      return;
    }
    // Decide every write in order against the files and the batch's own earlier writes.
    const seen = new Map<string, Buffer | undefined>();
    const entries: JournalEntry[] = [];
    /** For each entry, the write of the batch it came from. */
    const writers: PendingWrite[] = [];
    const outcome: boolean[] = [];
    try {
      // The files' current bytes, read in parallel (the decisions below are in order).
      const paths = new Map(batch.map((w) => [w.key, w.path]));
      const stored = new Map(await Promise.all([...paths].map(async ([key, path]) => [key, await this.#read(path)] as const)));
      for (const w of batch) {
        const current = seen.has(w.key) ? seen.get(w.key) : stored.get(w.key);
        const write = w.kind === "put" || (w.kind === "create" && current === undefined) ||
          (w.kind === "cas" && current !== undefined && w.expected !== undefined && sameBytes(current, w.expected)) ||
          (w.kind === "delete" && current !== undefined);
        outcome.push(write || w.kind === "delete");
        if (!write) continue;
        seen.set(w.key, w.value);
        entries.push({ key: w.key, value: w.value, secret: w.secret });
        writers.push(w);
      }
      if (entries.length > 0) {
        this.#journal ??= await Journal.create(join(this.#root, JOURNAL_FILE));
        await this.#journal.append(entries);
        this.#commits++;
        this.#committedWrites += entries.length;
      }
    } catch (err) {
      // Nothing of this batch is durable (a failed append is cut back): every write fails, later ones may succeed.
      for (const w of batch) w.reject(err);
      return;
    }
    try {
      // Only each key's last value reaches its file; different keys in parallel.
      const last = new Map(entries.map((e) => [e.key, e]));
      await Promise.all([...last.values()].map((e) => this.#apply(e, false)));
    } catch (err) {
      // Durable in the journal but not in its file: reads would lie until a restart replays it.
      this.#broken = err;
      for (const w of batch) w.reject(this.#brokenError());
      return;
    }
    // A throwing watcher fails the write it was told about (as before batching), not the batch.
    const failed = new Map<PendingWrite, unknown>();
    entries.forEach((e, i) => {
      try {
        this.#changed(e.key, e.value);
      } catch (err) {
        failed.set(writers[i]!, err);
      }
    });
    batch.forEach((w, i) => (failed.has(w) ? w.reject(failed.get(w)) : w.resolve(outcome[i] ?? false)));
    const journal = this.#journal;
    if (journal !== undefined && (journal.size >= CHECKPOINT_BYTES || journal.entries >= CHECKPOINT_ENTRIES)) {
      await this.#checkpoint().catch((err: unknown) => {
        this.#broken = err;
      });
    }
  }

  #brokenError(): MeshfedError {
    return new MeshfedError("MESHFED_STORE_JOURNAL_FAILED", `the data directory ${this.#root} could not be written; restart the controller to replay its journal`, { cause: this.#broken });
  }

  async #read(path: string): Promise<Buffer | undefined> {
    try {
      return await readFile(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw err;
    }
  }

  /** Writes one entry's file (atomic rename); `sync`: durable on its own (replay), else the journal holds it. */
  async #apply(entry: JournalEntry, sync: boolean): Promise<void> {
    const path = this.#path(entry.key);
    if (entry.value === undefined) {
      try {
        await unlink(path);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      }
    } else {
      await writeFileAtomic(path, entry.value, entry.secret ? 0o600 : 0o644, { sync });
    }
    if (!sync) this.#unsynced.add(path);
  }

  /** Syncs every file applied since the last checkpoint and their directories, then empties the journal. */
  async #checkpoint(): Promise<void> {
    const paths = [...this.#unsynced];
    this.#unsynced.clear();
    const dirs = new Set(paths.map((p) => dirname(p)));
    await Promise.all([...paths, ...dirs].map((p) => syncPath(p)));
    await this.#journal?.reset();
  }

  /** Applies (durably) what the journal holds from before a crash, then removes it. */
  async #replay(): Promise<void> {
    const path = join(this.#root, JOURNAL_FILE);
    const entries = await readJournal(path);
    for (const e of entries) await this.#apply(e, false);
    await this.#checkpoint();
    await unlink(path).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== "ENOENT") throw err;
    });
    await syncPath(this.#root);
  }

  async watch(prefix: string, onChange: (change: StoreChange) => void, signal: AbortSignal): Promise<void> {
    this.#path(prefix); // validates
    if (signal.aborted) return;
    const remove = this.#changes.add((change) => {
      const rest = change.key.startsWith(`${prefix}/`) ? change.key.slice(prefix.length + 1) : undefined;
      if (rest !== undefined && !rest.includes("/")) onChange(change);
    });
    signal.addEventListener("abort", remove, { once: true });
  }

  #changed(key: string, value: Uint8Array | string | undefined): void {
    this.#changes.emit({ key, value: typeof value === "string" ? Buffer.from(value) : value });
  }

  async list(prefix: string): Promise<Array<{ key: string; value: Uint8Array }>> {
    const dir = this.#path(prefix);
    let names: string[];
    try {
      names = (await readdir(dir, { withFileTypes: true })).filter((d) => d.isFile()).map((d) => d.name);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw err;
    }
    // Temp files of an interrupted atomic write start with a dot: never data.
    const keys = names.filter((n) => !n.startsWith(".")).sort();
    const out: Array<{ key: string; value: Uint8Array }> = [];
    for (const name of keys) {
      const key = `${prefix}/${name}`;
      const value = await this.get(key);
      if (value !== undefined) out.push({ key, value });
    }
    return out;
  }

  /** Commits what waits, checkpoints and closes the journal; a later write opens it again. */
  async close(): Promise<void> {
    while (this.#flushing !== undefined) await this.#flushing;
    const journal = this.#journal;
    if (journal === undefined) return;
    this.#journal = undefined;
    if (this.#broken === undefined) await this.#checkpoint();
    await journal.close();
    if (this.#broken === undefined) await unlink(join(this.#root, JOURNAL_FILE)).catch(() => undefined);
  }
}

/** fsync of a file or directory; one deleted since is fine. */
async function syncPath(path: string): Promise<void> {
  let handle;
  try {
    handle = await open(path, "r");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
    throw err;
  }
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
