/**
 * Shared files kept on the agent's disk by content hash (issue 17): the
 * controller sends a file shared by many proxies (the ~19 KB Pipy codebase)
 * in full once, with its sha256, and afterwards only a reference while the
 * agent says it holds it (Hello.file_cache). Files live in
 * `<data dir>/files/<sha256>`, written atomically.
 *
 * A file is only ever handed out after its bytes hashed to its name: a
 * corrupted or truncated copy is deleted and reported missing, so the stream
 * NACKs and reconnects with a Hello that no longer lists it, and the
 * controller sends it in full again. Pipy never sees unverified bytes.
 */
import { createHash } from "node:crypto";
import { readdir, readFile, stat, unlink, utimes } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "../common/atomic-file.js";
import { MeshfedError } from "../common/errors.js";
import type { Logger } from "../common/logger.js";

export const FILE_CACHE_ERRORS = {
  /** A reference to a file the cache does not hold (or held corrupted). */
  missing: "MESHFED_AGENT_FILE_MISSING",
  /** A file sent in full whose bytes do not hash to the sha256 sent with it. */
  mismatch: "MESHFED_AGENT_FILE_HASH_MISMATCH",
} as const;

const SHA256_HEX = /^[0-9a-f]{64}$/;
/**
 * Kept on disk at most, least recently used out (a reference touches its
 * file). A controller upgrade adds one codebase; every change of the proxy's
 * shared view (/view.json) adds one file, which ages out after 64 - 20 more.
 */
export const MAX_CACHED_FILES = 64;

export function sha256Hex(content: Uint8Array): string {
  return createHash("sha256").update(content).digest("hex");
}

export class FileCache {
  readonly #dir: string;
  readonly #log: Logger;

  constructor(dir: string, logger: Logger) {
    this.#dir = dir;
    this.#log = logger;
  }

  /** The hashes on disk (names only: each is checked when used), newest first, at most MAX_CACHED_FILES. */
  async list(): Promise<string[]> {
    let names: string[];
    try {
      names = await readdir(this.#dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw err;
    }
    const entries = await Promise.all(names.filter((n) => SHA256_HEX.test(n)).map(async (n) => {
      const s = await stat(join(this.#dir, n)).catch(() => undefined);
      return s === undefined ? undefined : { n, at: s.mtimeMs };
    }));
    return entries.filter((e) => e !== undefined).sort((a, b) => b.at - a.at).slice(0, MAX_CACHED_FILES).map((e) => e.n);
  }

  /** Checks a file sent in full against its hash and keeps it; throws MESHFED_AGENT_FILE_HASH_MISMATCH when they differ. */
  async put(sha256: string, content: Uint8Array): Promise<void> {
    if (!SHA256_HEX.test(sha256)) throw new MeshfedError(FILE_CACHE_ERRORS.mismatch, `"${sha256.slice(0, 80)}" is not a sha256 in lower-case hex`);
    const actual = sha256Hex(content);
    if (actual !== sha256) throw new MeshfedError(FILE_CACHE_ERRORS.mismatch, `a shared file announced as ${sha256} hashes to ${actual}`);
    await writeFileAtomic(join(this.#dir, sha256), content, 0o600);
    await this.#prune();
  }

  /** The verified bytes of `sha256`, or undefined (absent, unreadable, or corrupted: then deleted). */
  async get(sha256: string): Promise<Buffer | undefined> {
    if (!SHA256_HEX.test(sha256)) return undefined;
    const path = join(this.#dir, sha256);
    let content: Buffer;
    try {
      content = await readFile(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") this.#log.warn({ file: path, err: (err as Error).message }, "a cached shared file could not be read; it will be fetched again");
      return undefined;
    }
    if (sha256Hex(content) !== sha256) {
      this.#log.warn({ file: path, code: FILE_CACHE_ERRORS.missing }, "a cached shared file does not match its hash (corrupted on disk): deleted, it will be fetched again");
      await unlink(path).catch(() => undefined);
      return undefined;
    }
    // Used now: newest again, so the pruning (least recently used out) keeps
    // the files every config refers to (the codebase) while the shared views
    // of past configs (one per change) age out. The controller mirrors this
    // order (config-message.ts rememberSentFiles).
    const now = new Date();
    await utimes(path, now, now).catch(() => undefined);
    return content;
  }

  async #prune(): Promise<void> {
    const names = await readdir(this.#dir).catch(() => [] as string[]);
    const kept = new Set(await this.list());
    for (const n of names) if (SHA256_HEX.test(n) && !kept.has(n)) await unlink(join(this.#dir, n)).catch(() => undefined);
  }
}
