/**
 * The file store's write-ahead journal (issue 17, group commit): the writes
 * of one batch are appended to `<dataDir>/.journal` and made durable by ONE
 * fdatasync, then applied to their files without fsync. A crash after the
 * fdatasync loses nothing: the next open replays the journal. Every so often
 * (checkpoint) the applied files are synced and the journal emptied.
 *
 * One line per write: `<16 hex of sha256(json)> <json>\n`, json =
 * {"k": key, "v": base64 | null (deletion), "s": 1 when secret}. A line
 * that is cut or does not match its checksum ends the journal: it belongs
 * to a batch whose fdatasync never returned, so no caller was told it was
 * written (and after a failed append the file is cut back, see append).
 */
import { createHash } from "node:crypto";
import { open, readFile, type FileHandle } from "node:fs/promises";
import { z } from "zod";

export const JOURNAL_FILE = ".journal";

export interface JournalEntry {
  readonly key: string;
  /** undefined: the key was deleted. */
  readonly value: Buffer | undefined;
  readonly secret: boolean;
}

const lineSchema = z.strictObject({ k: z.string().min(1), v: z.string().nullable(), s: z.literal(1).optional() });

function checksum(json: string): string {
  return createHash("sha256").update(json).digest("hex").slice(0, 16);
}

export function encodeEntries(entries: readonly JournalEntry[]): Buffer {
  let text = "";
  for (const e of entries) {
    const json = JSON.stringify({ k: e.key, v: e.value === undefined ? null : e.value.toString("base64"), ...(e.secret ? { s: 1 } : {}) });
    text += `${checksum(json)} ${json}\n`;
  }
  return Buffer.from(text, "utf8");
}

/** The entries up to the first line that is cut, corrupt or not ours. */
export function decodeEntries(bytes: Buffer): JournalEntry[] {
  const out: JournalEntry[] = [];
  const text = bytes.toString("utf8");
  let start = 0;
  for (let nl = text.indexOf("\n"); nl >= 0; start = nl + 1, nl = text.indexOf("\n", start)) {
    const line = text.slice(start, nl);
    const json = line.slice(17);
    if (line[16] !== " " || checksum(json) !== line.slice(0, 16)) break;
    let parsed;
    try {
      parsed = lineSchema.parse(JSON.parse(json));
    } catch {
      break;
    }
    out.push({ key: parsed.k, value: parsed.v === null ? undefined : Buffer.from(parsed.v, "base64"), secret: parsed.s === 1 });
  }
  return out;
}

export async function readJournal(path: string): Promise<JournalEntry[]> {
  try {
    return decodeEntries(await readFile(path));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw err;
  }
}

/** The open journal: appended to by one writer (the store's flush loop) at a time. */
export class Journal {
  readonly #handle: FileHandle;
  #size = 0;
  #entries = 0;

  private constructor(handle: FileHandle) {
    this.#handle = handle;
  }

  /** Opens an empty journal (replay happened before). Mode 0600: it holds secrets. */
  static async create(path: string): Promise<Journal> {
    return new Journal(await open(path, "w", 0o600));
  }

  get size(): number {
    return this.#size;
  }

  get entries(): number {
    return this.#entries;
  }

  /** Durable when it resolves. On failure the file is cut back to what it held, so later batches still decode. */
  async append(entries: readonly JournalEntry[]): Promise<void> {
    const bytes = encodeEntries(entries);
    try {
      await this.#handle.write(bytes, 0, bytes.length, this.#size);
      await this.#handle.datasync();
    } catch (err) {
      await this.#handle.truncate(this.#size);
      throw err;
    }
    this.#size += bytes.length;
    this.#entries += entries.length;
  }

  /** Empties the journal once everything in it is durable in its own file. */
  async reset(): Promise<void> {
    await this.#handle.truncate(0);
    await this.#handle.datasync();
    this.#size = 0;
    this.#entries = 0;
  }

  async close(): Promise<void> {
    await this.#handle.close();
  }
}
