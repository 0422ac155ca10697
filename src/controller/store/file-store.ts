import { readFile, readdir, unlink, mkdir } from "node:fs/promises";
import { join } from "node:path";
import { removeStaleTempFiles, writeFileAtomic } from "../../common/atomic-file.js";
import { MeshfedError } from "../../common/errors.js";
import type { PutOptions, StateStore } from "./types.js";

const KEY = /^[a-z0-9._-]+(\/[a-z0-9._-]+)*$/;

/**
 * The embedded default: one file per key under the data directory, written
 * atomically. Secrets get mode 0600; the directory itself is 0700 because it
 * holds the CA key.
 */
export class FileStore implements StateStore {
  readonly kind = "file";
  readonly #root: string;

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

  async put(key: string, value: Uint8Array | string, options: PutOptions = {}): Promise<void> {
    await writeFileAtomic(this.#path(key), value, options.secret ? 0o600 : 0o644);
  }

  async delete(key: string): Promise<void> {
    try {
      await unlink(this.#path(key));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
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
