/**
 * The wire bytes of one `ControllerMessage { config: ConfigVersion }`,
 * encoded by hand so that files shared by every proxy are encoded once.
 *
 * Why: with the Pipy driver ~19 KB of every proxy's config is the same
 * codebase. Encoded through protobufjs, each push copied those bytes three
 * times (the session's copy, protobufjs' output, grpc-js' framing), all of
 * them ~20 KB buffers that fragment the native heap after a mesh-wide push to
 * thousands of proxies (docs/benchmarks.md, "Issue 8, second round"). Here a
 * frozen ConfigFile (the driver's contract for "the same object for every
 * proxy", drivers/types.ts) is encoded once and its bytes are cached by
 * identity; each push writes one buffer of the exact size and copies into it.
 *
 * The bytes are the ones protobufjs writes for the same message (fields in
 * number order, every field present written, lengths as varints), so agents
 * decode exactly what they decoded before; a unit test compares both
 * encodings.
 *
 * Content-addressed files (issue 17): to an agent whose Hello says it keeps
 * shared files by hash (FileCache), a shared file goes in full once, with its
 * sha256, and afterwards as a reference (path + sha256, no content) while the
 * agent holds it. A push then carries only the per-proxy config.json (~2 KB
 * instead of ~20 KB with Pipy). Agents without FileCache get the bytes above,
 * unchanged.
 */
import { createHash } from "node:crypto";
import type { ServiceDefinition } from "@grpc/grpc-js";
import type { ControllerMessage } from "../../common/proto.js";
import type { ConfigFile, ProxyConfig } from "../drivers/types.js";
import { unpooledBuffer } from "../../common/unpooled-bytes.js";

/** A ControllerMessage already encoded; the Connect serializer passes its bytes through unchanged. */
export class EncodedControllerMessage {
  /**
   * sharedInFull: sha256 of the shared files this message carries in full
   * (the agent caches them once it has it); referenced: those it names by
   * reference (the agent marks them used).
   */
  constructor(readonly bytes: Buffer, readonly sharedInFull: readonly string[] = [], readonly referenced: readonly string[] = []) {}
}

/**
 * How many shared files an agent keeps at least, least recently used out
 * (src/agent/file-cache.ts MAX_CACHED_FILES; a file is used when sent in full
 * or referenced). The controller's record of an agent's files is bounded the
 * same way, so it never refers to a file the agent has pruned, and it stays
 * small however many views a long-lived stream sees.
 */
export const AGENT_FILE_CACHE_FLOOR = 64;

/**
 * Records a message written to an agent in `held` (its files by hash, in use
 * order, oldest first): files sent in full or referenced become the newest;
 * beyond AGENT_FILE_CACHE_FLOOR the oldest are forgotten (sent in full again
 * if needed).
 */
export function rememberSentFiles(held: Set<string>, message: EncodedControllerMessage): void {
  for (const list of [message.referenced, message.sharedInFull]) {
    for (const sha of list) {
      held.delete(sha);
      held.add(sha);
    }
  }
  for (const sha of held) {
    if (held.size <= AGENT_FILE_CACHE_FLOOR) break;
    held.delete(sha);
  }
}

/** What the agent on the stream holds by hash; absent: an agent without FileCache (full files, the old bytes). */
export interface AgentFileCache {
  has(sha256: string): boolean;
}

export type OutgoingControllerMessage = ControllerMessage | EncodedControllerMessage;

// Tags: (field number << 3) | wire type 0 (varint) or 2 (length-delimited).
const CONTROLLER_MESSAGE_CONFIG = (1 << 3) | 2;
const CONFIG_VERSION_VERSION = (1 << 3) | 0;
const CONFIG_VERSION_DRIVER = (2 << 3) | 2;
const CONFIG_VERSION_HASH = (3 << 3) | 2;
const CONFIG_VERSION_FILES = (4 << 3) | 2;
const CONFIG_FILE_PATH = (1 << 3) | 2;
const CONFIG_FILE_CONTENT = (2 << 3) | 2;
const CONFIG_FILE_SHA256 = (3 << 3) | 2;
const CONFIG_FILE_BY_REFERENCE = (4 << 3) | 0;

/**
 * The encodings of one shared (frozen) file, made once each and kept as long
 * as the driver holds the file: in buffers of their own, since a pool slice
 * would keep its 8 KiB slab resident for as long (common/unpooled-bytes.ts).
 */
interface SharedEncodings {
  readonly sha256: string;
  /** As protobufjs writes it: path and content (agents without FileCache). */
  full?: Buffer;
  /** Path, content and sha256: the agent caches it. */
  fullWithHash?: Buffer;
  /** Path, sha256 and by_reference: the agent takes it from its cache. */
  reference?: Buffer;
}
const shared = new WeakMap<ConfigFile, SharedEncodings>();

function encodingsOf(file: ConfigFile): SharedEncodings {
  let e = shared.get(file);
  if (e === undefined) {
    e = { sha256: createHash("sha256").update(file.content).digest("hex") };
    shared.set(file, e);
  }
  return e;
}

/** The sha256 (hex) of a shared file's content, computed once per file object. */
export function sharedFileSha256(file: ConfigFile): string {
  return encodingsOf(file).sha256;
}

/**
 * The complete message for `config` sent as `version`. With `cache` (the
 * agent keeps shared files by hash) shared files it holds go by reference and
 * the others in full with their hash, listed in `sharedInFull`.
 */
export function encodeConfigMessage(version: number, config: ProxyConfig, cache?: AgentFileCache): EncodedControllerMessage {
  if (!Number.isSafeInteger(version) || version < 0) throw new RangeError(`config version must be a non-negative safe integer, got ${version}`);
  const driver = Buffer.from(config.driver, "utf8");
  const hash = Buffer.from(config.hash, "utf8");
  const sharedInFull: string[] = [];
  const referenced: string[] = [];
  const entries = config.files.map((file) => {
    if (!Object.isFrozen(file)) return pendingEntry(file);
    if (cache === undefined) return sharedEntry(file);
    const e = encodingsOf(file);
    if (cache.has(e.sha256)) {
      referenced.push(e.sha256);
      return referenceEntry(file, e);
    }
    sharedInFull.push(e.sha256);
    return fullWithHashEntry(file, e);
  });
  const inner =
    1 + varintSize(version) +
    fieldSize(driver.length) + fieldSize(hash.length) +
    entries.reduce((sum, e) => sum + (Buffer.isBuffer(e) ? e.length : e.size), 0);
  const out = Buffer.allocUnsafe(fieldSize(inner));
  let at = writeVarint(out, 0, CONTROLLER_MESSAGE_CONFIG);
  at = writeVarint(out, at, inner);
  at = writeVarint(out, at, CONFIG_VERSION_VERSION);
  at = writeVarint(out, at, version);
  at = writeBytes(out, at, CONFIG_VERSION_DRIVER, driver);
  at = writeBytes(out, at, CONFIG_VERSION_HASH, hash);
  for (const e of entries) at = Buffer.isBuffer(e) ? at + e.copy(out, at) : writeEntry(out, at, e);
  if (at !== out.length) throw new Error(`config message encoding wrote ${at} of ${out.length} bytes`);
  return new EncodedControllerMessage(out, sharedInFull, referenced);
}

/** A per-proxy file, written straight into the message buffer. */
interface PendingEntry {
  readonly path: Buffer;
  readonly content: Uint8Array;
  /** The ConfigFile message's own length (without the `files` tag and length). */
  readonly body: number;
  /** The whole `files` entry. */
  readonly size: number;
}

function pendingEntry(file: ConfigFile): PendingEntry {
  const path = Buffer.from(file.path, "utf8");
  const body = fieldSize(path.length) + fieldSize(file.content.length);
  return { path, content: file.content, body, size: fieldSize(body) };
}

function sharedEntry(file: ConfigFile): Buffer {
  const e = encodingsOf(file);
  if (e.full === undefined) {
    const pending = pendingEntry(file);
    e.full = unpooledBuffer(pending.size);
    writeEntry(e.full, 0, pending);
  }
  return e.full;
}

function fullWithHashEntry(file: ConfigFile, e: SharedEncodings): Buffer {
  if (e.fullWithHash === undefined) {
    const path = Buffer.from(file.path, "utf8");
    const sha = Buffer.from(e.sha256, "ascii");
    const body = fieldSize(path.length) + fieldSize(file.content.length) + fieldSize(sha.length);
    const out = unpooledBuffer(fieldSize(body));
    let at = writeVarint(out, 0, CONFIG_VERSION_FILES);
    at = writeVarint(out, at, body);
    at = writeBytes(out, at, CONFIG_FILE_PATH, path);
    at = writeBytes(out, at, CONFIG_FILE_CONTENT, file.content);
    writeBytes(out, at, CONFIG_FILE_SHA256, sha);
    e.fullWithHash = out;
  }
  return e.fullWithHash;
}

function referenceEntry(file: ConfigFile, e: SharedEncodings): Buffer {
  if (e.reference === undefined) {
    const path = Buffer.from(file.path, "utf8");
    const sha = Buffer.from(e.sha256, "ascii");
    const body = fieldSize(path.length) + fieldSize(sha.length) + 2;
    const out = unpooledBuffer(fieldSize(body));
    let at = writeVarint(out, 0, CONFIG_VERSION_FILES);
    at = writeVarint(out, at, body);
    at = writeBytes(out, at, CONFIG_FILE_PATH, path);
    at = writeBytes(out, at, CONFIG_FILE_SHA256, sha);
    at = writeVarint(out, at, CONFIG_FILE_BY_REFERENCE);
    writeVarint(out, at, 1);
    e.reference = out;
  }
  return e.reference;
}

function writeEntry(out: Buffer, at: number, e: PendingEntry): number {
  at = writeVarint(out, at, CONFIG_VERSION_FILES);
  at = writeVarint(out, at, e.body);
  at = writeBytes(out, at, CONFIG_FILE_PATH, e.path);
  return writeBytes(out, at, CONFIG_FILE_CONTENT, e.content);
}

/** Tag (one byte for every field here) + length + bytes. */
function fieldSize(length: number): number {
  return 1 + varintSize(length) + length;
}

function writeBytes(out: Buffer, at: number, tag: number, bytes: Uint8Array): number {
  at = writeVarint(out, at, tag);
  at = writeVarint(out, at, bytes.length);
  out.set(bytes, at);
  return at + bytes.length;
}

function varintSize(value: number): number {
  let size = 1;
  while (value >= 128) {
    value = Math.floor(value / 128);
    size += 1;
  }
  return size;
}

// Division rather than bit shifts: versions are numbers up to 2^53, beyond 32-bit operators.
function writeVarint(out: Buffer, at: number, value: number): number {
  while (value >= 128) {
    out[at++] = (value % 128) | 128;
    value = Math.floor(value / 128);
  }
  out[at++] = value;
  return at;
}

/**
 * The service definition with Connect's response serializer taught to pass
 * an EncodedControllerMessage's bytes through; every other message is
 * encoded by protobufjs as before.
 */
export function acceptingEncodedMessages(definition: ServiceDefinition): ServiceDefinition {
  const connect = definition.Connect;
  if (connect === undefined) throw new Error("the ProxyControlPlane service has no Connect method");
  const serialize = connect.responseSerialize;
  return {
    ...definition,
    Connect: { ...connect, responseSerialize: (m: unknown) => (m instanceof EncodedControllerMessage ? m.bytes : serialize(m)) },
  };
}
