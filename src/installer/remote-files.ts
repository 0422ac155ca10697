/**
 * File operations on a host. Contents travel only through stdin (the join
 * token above all never appears on a command line). Every round trip counts
 * (an SSH command costs a login-shell start on the host, often a second), so
 * an upload is one command: a small Node.js program (Node is on the host
 * anyway, it runs the agent) stages every file beside its target
 * (`<path>.meshfed-new`), then renames them all; on any error it removes
 * what it staged and the previous files stay as they were.
 */
import { MeshfedError } from "../common/errors.js";
import { shellQuote, type RemoteShell } from "./remote-shell.js";

export const REMOTE_FILE_ERROR = "MESHFED_INSTALL_REMOTE_FILE";

export interface DesiredFile {
  readonly path: string;
  readonly content: Buffer;
  /** e.g. 0o644; secrets 0o600. */
  readonly mode: number;
}

// Runs on the host with `node -e`. stdin: one JSON line {dirs: [{path, mode}], files: [{path, mode, size}]},
// then the contents back to back.
const APPLY_PROGRAM = `
const fs = require("fs"), path = require("path");
const chunks = []; process.stdin.on("data", (c) => chunks.push(c)).on("end", () => {
  const all = Buffer.concat(chunks); const nl = all.indexOf(10);
  const { dirs, files } = JSON.parse(all.subarray(0, nl).toString()); let at = nl + 1; const staged = [];
  try {
    for (const d of dirs) { fs.mkdirSync(d.path, { recursive: true, mode: d.mode }); fs.chmodSync(d.path, d.mode); }
    for (const f of files) {
      fs.mkdirSync(path.dirname(f.path), { recursive: true, mode: 0o755 });
      const tmp = f.path + ".meshfed-new"; staged.push(tmp);
      const fd = fs.openSync(tmp, "w", 0o600);
      fs.writeSync(fd, all, at, f.size); fs.fsyncSync(fd); fs.closeSync(fd); fs.chmodSync(tmp, f.mode); at += f.size;
    }
    for (const f of files) fs.renameSync(f.path + ".meshfed-new", f.path);
  } catch (e) {
    for (const t of staged) { try { fs.unlinkSync(t); } catch {} }
    process.stderr.write(String(e && e.message || e)); process.exit(1);
  }
});`;

export interface DesiredDir {
  readonly path: string;
  readonly mode: number;
}

/** Creates the directories, then writes every file, all or none (renames after everything is staged). */
export async function applyFiles(shell: RemoteShell, node: string, dirs: readonly DesiredDir[], files: readonly DesiredFile[]): Promise<void> {
  const header = JSON.stringify({ dirs, files: files.map((f) => ({ path: f.path, mode: f.mode, size: f.content.length })) });
  const stdin = Buffer.concat([Buffer.from(`${header}\n`), ...files.map((f) => f.content)]);
  const r = await shell.run(`${shellQuote(node)} -e ${shellQuote(APPLY_PROGRAM)}`, { stdin });
  if (r.code !== 0) throw new MeshfedError(REMOTE_FILE_ERROR, `uploading ${files.length} file(s) failed (exit ${r.code}): ${(r.stderr || r.stdout).trim()}`);
}

/** The file's text, or undefined when it does not exist. */
export async function readRemoteFile(shell: RemoteShell, path: string): Promise<string | undefined> {
  const r = await shell.run(`if [ -f ${shellQuote(path)} ]; then cat ${shellQuote(path)}; else exit 3; fi`);
  if (r.code === 3) return undefined;
  if (r.code !== 0) throw new MeshfedError(REMOTE_FILE_ERROR, `reading ${path} failed (exit ${r.code}): ${r.stderr.trim()}`);
  return r.stdout;
}

export async function removeRemote(shell: RemoteShell, paths: readonly string[]): Promise<void> {
  if (paths.length === 0) return;
  const r = await shell.run(`rm -rf -- ${paths.map(shellQuote).join(" ")}`);
  if (r.code !== 0) throw new MeshfedError(REMOTE_FILE_ERROR, `removing ${paths.join(", ")} failed (exit ${r.code}): ${r.stderr.trim()}`);
}

export interface RemoteStatus {
  /** sha256 of each asked-for file that exists. */
  readonly hashes: ReadonlyMap<string, string>;
  /** The agent's state.json, when it has enrolled. */
  readonly state?: string;
  readonly running: boolean;
  /** The agent's trust verdict (src/agent/ca-mismatch.ts), only when written by the agent running now. */
  readonly trustFailure?: string;
}

const MARK = "@@meshfed@@";

/**
 * Hashes, enrollment state, whether the agent runs and its trust verdict, in
 * one round trip. A verdict counts only while the process that wrote it
 * (its `pid`) lives: one left by the agent a restart replaced says nothing.
 */
export async function remoteStatus(shell: RemoteShell, paths: readonly string[], stateFile: string, runningTest: string, trustFile?: string): Promise<RemoteStatus> {
  const verdict = trustFile === undefined ? [] : [
    `echo ${MARK}trust`,
    `tpid=$(sed -n 's/^ *"pid": *\\([0-9][0-9]*\\).*/\\1/p' ${shellQuote(trustFile)} 2>/dev/null)`,
    `if [ -n "$tpid" ] && kill -0 "$tpid" 2>/dev/null; then cat ${shellQuote(trustFile)}; fi`,
  ];
  const script = [
    ...(paths.length > 0 ? [`for f in ${paths.map(shellQuote).join(" ")}; do if [ -f "$f" ]; then sha256sum -- "$f"; fi; done`] : []),
    `echo ${MARK}state`,
    `cat ${shellQuote(stateFile)} 2>/dev/null`,
    `echo; echo ${MARK}running`,
    `if ${runningTest}; then echo yes; else echo no; fi`,
    ...verdict,
  ].join("\n");
  const r = await shell.run(script);
  if (r.code !== 0) throw new MeshfedError(REMOTE_FILE_ERROR, `reading the install state failed (exit ${r.code}): ${r.stderr.trim()}`);
  const [hashPart = "", statePart = "", runningPart = "", trustPart = ""] = r.stdout.split(new RegExp(`${MARK}(?:state|running|trust)\\n`));
  const hashes = new Map<string, string>();
  for (const line of hashPart.split("\n")) {
    const m = /^([0-9a-f]{64}) [ *]?(.+)$/.exec(line);
    if (m) hashes.set(m[2]!, m[1]!);
  }
  const state = statePart.trim();
  const trust = trustPart.trim();
  return { hashes, ...(state !== "" ? { state } : {}), running: runningPart.trim() === "yes", ...(trust !== "" ? { trustFailure: trust } : {}) };
}
