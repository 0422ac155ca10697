/**
 * One configuration version as the agent holds it: validated at the edge
 * (a gRPC message or a file on disk), then frozen. The local repo serves
 * exactly one such object per download, so Pipy never sees a mix of two
 * versions.
 */
import { createHash } from "node:crypto";
import { z } from "zod";
import { MeshfedError } from "../common/errors.js";

export interface ConfigFileData {
  readonly path: string;
  readonly content: Buffer;
}

export interface ConfigVersionData {
  readonly version: number;
  readonly driver: string;
  /** The controller's content hash, echoed in ACK/NACK and Hello. */
  readonly hash: string;
  /** Entry script first. */
  readonly files: readonly ConfigFileData[];
}

/** What the repo serves: a version plus everything derived from it, immutable. */
export interface ServedVersion extends ConfigVersionData {
  /** Quoted strong ETag over every path and byte served (see etagOf). */
  readonly etag: string;
  readonly manifest: string;
  readonly byPath: ReadonlyMap<string, Buffer>;
}

export const CONFIG_INVALID = "MESHFED_AGENT_CONFIG_VERSION_INVALID";
const MAX_FILES = 1000;
// Plain relative-URL-safe paths only: Pipy requests `<base><path>` verbatim.
const FILE_PATH = /^(\/[A-Za-z0-9_][A-Za-z0-9._-]*)+$/;

export function checkConfigVersion(c: ConfigVersionData): void {
  const fail = (msg: string): never => {
    throw new MeshfedError(CONFIG_INVALID, `config version ${c.version}: ${msg}`);
  };
  if (!Number.isSafeInteger(c.version) || c.version < 1) fail("version must be a positive integer");
  if (c.driver === "") fail("driver is empty");
  if (c.hash === "" || c.hash.length > 128) fail("hash must be 1..128 characters");
  if (c.files.length === 0) fail("no files");
  if (c.files.length > MAX_FILES) fail(`more than ${MAX_FILES} files`);
  const seen = new Set<string>();
  for (const f of c.files) {
    if (!FILE_PATH.test(f.path) || f.path.split("/").some((s) => s === "." || s === "..")) fail(`file path "${f.path}" must be /name[/name...] of letters, digits, ".", "_", "-"`);
    if (seen.has(f.path)) fail(`file path "${f.path}" appears twice`);
    seen.add(f.path);
  }
}

/**
 * The ETag covers paths and bytes, computed here rather than taken from the
 * controller's hash: Pipy only re-downloads when the ETag changes, so it must
 * change with any byte we serve, whatever a driver puts into its own hash.
 */
export function etagOf(files: readonly ConfigFileData[]): string {
  const h = createHash("sha256");
  for (const f of files) {
    h.update(`${f.path}\0${f.content.length}\0`);
    h.update(f.content);
  }
  return `"${h.digest("hex")}"`;
}

/** An ETag as Pipy reports it back (it echoes the header verbatim); quotes optional. */
export function sameEtag(a: string, b: string): boolean {
  const strip = (s: string) => s.replace(/^W\//, "").replace(/^"(.*)"$/, "$1");
  return strip(a) === strip(b);
}

/**
 * `attachments` are files the agent adds on its own (the service certificate
 * and key for the local Pipy, see agent.ts): served after the controller's
 * files, replacing any controller file of the same path, and covered by the
 * ETag, so that a new certificate alone makes Pipy reload.
 */
export function toServed(c: ConfigVersionData, attachments: readonly ConfigFileData[] = []): ServedVersion {
  checkConfigVersion(c);
  const own = new Set(attachments.map((f) => f.path));
  const files = [...c.files.filter((f) => !own.has(f.path)), ...attachments].map((f) => Object.freeze({ path: f.path, content: Buffer.from(f.content) }));
  return Object.freeze({
    version: c.version,
    driver: c.driver,
    hash: c.hash,
    files: Object.freeze(files),
    etag: etagOf(files),
    manifest: files.map((f) => f.path).join("\n") + "\n",
    byPath: new Map(files.map((f) => [f.path, f.content])),
  });
}

// On disk: JSON with base64 contents (configs are small; JSON keeps it inspectable).
const storedSchema = z.strictObject({
  version: z.number().int().positive(),
  driver: z.string().min(1),
  hash: z.string().min(1),
  files: z.array(z.strictObject({ path: z.string(), content: z.string() })).min(1),
});

export function serializeConfig(c: ConfigVersionData): string {
  return JSON.stringify({
    version: c.version,
    driver: c.driver,
    hash: c.hash,
    files: c.files.map((f) => ({ path: f.path, content: f.content.toString("base64") })),
  }, null, 1) + "\n";
}

export function parseStoredConfig(text: string, file: string): ConfigVersionData {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new MeshfedError("MESHFED_AGENT_STATE_INVALID", `${file}: not JSON: ${(err as Error).message}`, { cause: err });
  }
  const parsed = storedSchema.safeParse(raw);
  if (!parsed.success) throw new MeshfedError("MESHFED_AGENT_STATE_INVALID", `${file}: ${parsed.error.issues[0]?.message ?? "invalid"}`);
  const c = { ...parsed.data, files: parsed.data.files.map((f) => ({ path: f.path, content: Buffer.from(f.content, "base64") })) };
  checkConfigVersion(c);
  return c;
}
