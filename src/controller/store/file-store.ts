import { readFile, readdir, unlink, mkdir } from "node:fs/promises";
import { join } from "node:path";
import { removeStaleTempFiles, writeFileAtomic } from "../../common/atomic-file.js";
import { Listeners } from "../../common/emitter.js";
import { MeshfedError } from "../../common/errors.js";
import { SerialQueue } from "../../common/serial-queue.js";
import { sameBytes, type PutOptions, type StateStore, type StoreChange } from "./types.js";

const KEY = /^[a-z0-9._-]+(\/[a-z0-9._-]+)*$/;

/**
 * The embedded default: one file per key under the data directory, written
 * atomically. Secrets get mode 0600; the directory itself is 0700 because it
 * holds the CA key.
 *
 * One process owns the directory, so atomicity between writers is an
 * in-process matter: every write goes through one queue, which makes create
 * and compareAndPut atomic, and watchers are told by an in-process emitter.
 */
export class FileStore implements StateStore {
  readonly kind = "file";
  readonly #root: string;
  readonly #writes = new SerialQueue();
  readonly #changes = new Listeners<StoreChange>();

  constructor(root: string) {
    this.#root = root;
  }

  static async open(root: string): Promise<FileStore> {
    await mkdir(root, { recursive: true, mode: 0o700 });
    await removeStaleTempFiles(root);
    return new FileStore(root);
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

  put(key: string, value: Uint8Array | string, options: PutOptions = {}): Promise<void> {
    const path = this.#path(key);
    return this.#writes.run(async () => {
      await writeFileAtomic(path, value, options.secret ? 0o600 : 0o644);
      this.#changed(key, value);
    });
  }

  create(key: string, value: Uint8Array | string, options: PutOptions = {}): Promise<boolean> {
    const path = this.#path(key);
    return this.#writes.run(async () => {
      if ((await this.get(key)) !== undefined) return false;
      await writeFileAtomic(path, value, options.secret ? 0o600 : 0o644);
      this.#changed(key, value);
      return true;
    });
  }

  compareAndPut(key: string, expected: Uint8Array, value: Uint8Array | string, options: PutOptions = {}): Promise<boolean> {
    const path = this.#path(key);
    return this.#writes.run(async () => {
      const current = await this.get(key);
      if (current === undefined || !sameBytes(current, expected)) return false;
      await writeFileAtomic(path, value, options.secret ? 0o600 : 0o644);
      this.#changed(key, value);
      return true;
    });
  }

  delete(key: string): Promise<void> {
    const path = this.#path(key);
    return this.#writes.run(async () => {
      try {
        await unlink(path);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
        return;
      }
      this.#changed(key, undefined);
    });
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

  async close(): Promise<void> {}
}
