/**
 * Host-key verification against an OpenSSH known_hosts file: plain and
 * hashed (`|1|salt|hmac`) host patterns, `[host]:port` for non-22 ports,
 * comma-separated lists, `@revoked` markers. A key that differs from the one
 * on record is always refused (it is what a man-in-the-middle looks like);
 * an unknown host is accepted only with trust-on-first-use, which records it.
 */
import { createHash, createHmac, randomBytes } from "node:crypto";
import { appendFile, mkdir, readFile } from "node:fs/promises";
import { dirname } from "node:path";
import { MeshfedError } from "../common/errors.js";

export const HOST_KEY_ERRORS = {
  changed: "MESHFED_SSH_HOST_KEY_CHANGED",
  unknown: "MESHFED_SSH_HOST_KEY_UNKNOWN",
  revoked: "MESHFED_SSH_HOST_KEY_REVOKED",
} as const;

interface KnownHostLine {
  readonly marker: "" | "@revoked" | "@cert-authority";
  readonly patterns: string;
  readonly keyType: string;
  readonly keyBase64: string;
}

/** The name known_hosts files use for a host: bare for port 22, `[host]:port` otherwise. */
export function knownHostName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

/** `SHA256:...` as `ssh-keygen -l` prints it, so operators can compare. */
export function fingerprint(key: Buffer): string {
  return `SHA256:${createHash("sha256").update(key).digest("base64").replace(/=+$/, "")}`;
}

/** The algorithm name at the start of an SSH public-key blob (uint32 length + string). */
export function keyType(key: Buffer): string {
  if (key.length < 4) return "unknown";
  const length = key.readUInt32BE(0);
  return key.subarray(4, 4 + length).toString("latin1");
}

function parseLines(text: string): KnownHostLine[] {
  const out: KnownHostLine[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const fields = line.split(/\s+/);
    const marker = fields[0] === "@revoked" || fields[0] === "@cert-authority" ? fields.shift() as "@revoked" | "@cert-authority" : "";
    const [patterns, type, key] = fields;
    if (patterns === undefined || type === undefined || key === undefined) continue;
    out.push({ marker, patterns, keyType: type, keyBase64: key });
  }
  return out;
}

function globMatch(pattern: string, name: string): boolean {
  const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".")}$`, "i");
  return re.test(name);
}

function hashedMatch(pattern: string, name: string): boolean {
  const [, magic, salt, hmac] = pattern.split("|");
  if (magic !== "1" || salt === undefined || hmac === undefined) return false;
  return createHmac("sha1", Buffer.from(salt, "base64")).update(name).digest("base64") === hmac;
}

function patternsMatch(patterns: string, name: string): boolean {
  if (patterns.startsWith("|")) return hashedMatch(patterns, name);
  let matched = false;
  for (const p of patterns.split(",")) {
    if (p.startsWith("!")) {
      if (globMatch(p.slice(1), name)) return false;
    } else if (globMatch(p, name)) {
      matched = true;
    }
  }
  return matched;
}

export interface HostKeyPolicy {
  /** known_hosts file to read (and, with acceptNew, to append to). */
  readonly knownHostsFile: string;
  /** Trust on first use: record the key of a host that has no entry yet. */
  readonly acceptNew: boolean;
}

export type HostKeyDecision = { readonly ok: true; readonly recorded: boolean } | { readonly ok: false; readonly error: MeshfedError };

/** Decides whether `key`, offered by host:port, is the one on record. */
export async function checkHostKey(policy: HostKeyPolicy, host: string, port: number, key: Buffer): Promise<HostKeyDecision> {
  const name = knownHostName(host, port);
  let text = "";
  try {
    text = await readFile(policy.knownHostsFile, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  const offered = key.toString("base64");
  const type = keyType(key);
  const entries = parseLines(text).filter((l) => l.marker !== "@cert-authority" && patternsMatch(l.patterns, name));
  const print = fingerprint(key);
  if (entries.some((e) => e.marker === "@revoked" && e.keyBase64 === offered)) {
    return { ok: false, error: new MeshfedError(HOST_KEY_ERRORS.revoked, `${name} offered a host key marked @revoked in ${policy.knownHostsFile} (${type} ${print})`) };
  }
  const known = entries.filter((e) => e.marker === "");
  if (known.some((e) => e.keyBase64 === offered)) return { ok: true, recorded: false };
  if (known.length > 0) {
    const expected = known.map((e) => e.keyType).join(", ");
    return {
      ok: false,
      error: new MeshfedError(
        HOST_KEY_ERRORS.changed,
        `host key of ${name} CHANGED: it offered ${type} ${print}, but ${policy.knownHostsFile} records a different key (${expected}). ` +
          "Someone may be intercepting the connection, or the host was reinstalled; verify out of band, then remove the old entry (ssh-keygen -R). --accept-new-host-key never overrides this.",
        { details: { host: name, fingerprint: print } },
      ),
    };
  }
  if (!policy.acceptNew) {
    return {
      ok: false,
      error: new MeshfedError(
        HOST_KEY_ERRORS.unknown,
        `${name} is not in ${policy.knownHostsFile} (it offered ${type} ${print}); add it (ssh-keyscan, after checking the fingerprint) or pass --accept-new-host-key to trust it on first use`,
        { details: { host: name, fingerprint: print } },
      ),
    };
  }
  await mkdir(dirname(policy.knownHostsFile), { recursive: true, mode: 0o700 });
  // O_APPEND writes of one short line do not interleave between parallel installs.
  await appendFile(policy.knownHostsFile, `${hashName(name)} ${type} ${offered}\n`, { mode: 0o600 });
  return { ok: true, recorded: true };
}

/** Hashed like `HashKnownHosts yes`, so the file does not list the fleet's addresses. */
function hashName(name: string): string {
  const salt = randomBytes(20);
  return `|1|${salt.toString("base64")}|${createHmac("sha1", salt).update(name).digest("base64")}`;
}
