/**
 * Points the host's resolver at the agent's DNS, and puts it back
 * (docs/dataplane.md "Mesh names", "Resolver hook"). One owner: the agent
 * installs on start, restores on stop; the next start repairs what a
 * kill -9 left.
 *
 * - "resolved": a systemd-resolved drop-in (`DNS=` our address, `Domains=`
 *   the mesh zones as routing domains) and a reload; removed on restore.
 * - "resolv.conf": /etc/resolv.conf is replaced by ours (nameserver = our
 *   address, the original search/options lines kept) after the original is
 *   saved in a backup file next to it: its bytes and mode, or the symlink it
 *   was. Our file carries a marker line, so a start after a crash sees that
 *   the live file is ours and never backs it up over the original; restore
 *   puts the original back byte for byte and only then deletes the backup.
 *   resolv.conf cannot name a port: this mode needs port 53.
 * - "auto": "resolved" when systemd-resolved runs, else "resolv.conf".
 * - "none": nothing is touched (names resolve by asking our address directly).
 */
import { spawn } from "node:child_process";
import { lstat, mkdir, readFile, readlink, rename, rm, stat, symlink } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { z } from "zod";
import { formatHostPort, type HostPort } from "../../common/address.js";
import { writeFileAtomic } from "../../common/atomic-file.js";
import { MeshfedError } from "../../common/errors.js";
import type { Logger } from "../../common/logger.js";

export const HOOK_MODES = ["auto", "resolved", "resolv.conf", "none"] as const;
export type HookMode = (typeof HOOK_MODES)[number];
export type ActiveHook = "resolved" | "resolv.conf" | "none";

export const RESOLV_MARKER = "# meshfed-agent: managed resolv.conf";
const DROP_IN_MARKER = "# meshfed-agent: managed drop-in";

export const HOOK_ERRORS = {
  port: "MESHFED_DNS_HOOK_PORT",
  backupInvalid: "MESHFED_DNS_HOOK_BACKUP_INVALID",
  reload: "MESHFED_DNS_HOOK_RELOAD",
} as const;

export interface ResolverPaths {
  readonly resolvConf: string;
  /** The saved original resolv.conf (next to it by default, so an uninstall that removes the agent's files still finds it). */
  readonly backup: string;
  readonly resolvedDropIn: string;
  /** Where systemd-resolved lists its real upstream servers. */
  readonly resolvedUpstreams: string;
}

export const DEFAULT_RESOLVER_PATHS: ResolverPaths = {
  resolvConf: "/etc/resolv.conf",
  backup: "/etc/resolv.conf.meshfed-backup",
  resolvedDropIn: "/etc/systemd/resolved.conf.d/meshfed.conf",
  resolvedUpstreams: "/run/systemd/resolve/resolv.conf",
};

export interface ResolverHookOptions {
  readonly mode: HookMode;
  readonly paths: ResolverPaths;
  readonly listen: HostPort;
  readonly logger: Logger;
  /** Whether systemd-resolved runs (default: its runtime directory lists upstreams). */
  readonly resolvedActive?: () => Promise<boolean>;
  /** Makes systemd-resolved read its drop-ins again (default: systemctl try-reload-or-restart). */
  readonly reloadResolved?: () => Promise<void>;
}

const backupSchema = z.discriminatedUnion("kind", [
  z.strictObject({ kind: z.literal("file"), mode: z.number().int(), content: z.string() }),
  z.strictObject({ kind: z.literal("symlink"), target: z.string().min(1) }),
  z.strictObject({ kind: z.literal("absent") }),
]);
type Backup = z.infer<typeof backupSchema>;

export class ResolverHook {
  readonly #o: ResolverHookOptions;
  readonly #log: Logger;
  #active: ActiveHook = "none";

  constructor(options: ResolverHookOptions) {
    this.#o = options;
    this.#log = options.logger.child({ component: "dns-hook" });
  }

  get active(): ActiveHook {
    return this.#active;
  }

  /** The mode "auto" resolves to on this host. */
  async resolveMode(): Promise<ActiveHook> {
    const { mode } = this.#o;
    if (mode !== "auto") return mode;
    return (await this.#resolvedActive()) ? "resolved" : "resolv.conf";
  }

  /**
   * The host's real upstream resolvers, as resolv.conf text, for the
   * forwarder: the saved original while our resolv.conf is in place,
   * systemd-resolved's own list with the drop-in, else the live file.
   */
  async upstreamsText(): Promise<string> {
    const { paths } = this.#o;
    if (this.#active === "resolved") return readFile(paths.resolvedUpstreams, "utf8").catch(() => "");
    if (this.#active === "resolv.conf") {
      const backup = await this.#readBackup().catch(() => undefined);
      if (backup?.kind === "file") return Buffer.from(backup.content, "base64").toString("utf8");
      if (backup?.kind === "symlink") return readFile(resolve(dirname(paths.resolvConf), backup.target), "utf8").catch(() => "");
      return "";
    }
    return readFile(paths.resolvConf, "utf8").catch(() => "");
  }

  /**
   * Installs the hook (idempotent: a second call, or a start after a crash,
   * leaves exactly one hook). Leftovers of another mode (the config changed
   * between runs) are removed first.
   */
  async install(zones: readonly string[]): Promise<ActiveHook> {
    const active = await this.resolveMode();
    if (active !== "resolv.conf") await this.#restoreResolvConf();
    if (active !== "resolved") await this.#removeDropIn();
    if (active === "resolv.conf") await this.#installResolvConf();
    if (active === "resolved") await this.#installDropIn(zones);
    this.#active = active;
    this.#log.info({ hook: active, listen: formatHostPort(this.#o.listen) }, "resolver hook in place");
    return active;
  }

  /** Puts the host's resolver back as it was; idempotent. True when there was something of ours to undo. */
  async restore(): Promise<boolean> {
    const file = await this.#restoreResolvConf();
    const dropIn = await this.#removeDropIn();
    this.#active = "none";
    return file || dropIn;
  }

  // ---- resolv.conf ---------------------------------------------------------

  async #installResolvConf(): Promise<void> {
    const { paths, listen } = this.#o;
    if (listen.port !== 53) {
      throw new MeshfedError(HOOK_ERRORS.port, `resolv.conf cannot name a port: the DNS listen address must use port 53 for the resolv.conf hook (it is ${formatHostPort(listen)}); use the resolved hook or "none"`);
    }
    const current = await readCurrent(paths.resolvConf);
    let original: Backup;
    if (current.kind !== "absent" && current.text.includes(RESOLV_MARKER)) {
      // Ours, left by a kill -9: the backup holds the original; never overwrite it with our own file.
      original = await this.#readBackup() ?? { kind: "absent" };
    } else {
      original = current.backup;
      await writeFileAtomic(paths.backup, JSON.stringify(original) + "\n", 0o600);
    }
    const originalText = original.kind === "file" ? Buffer.from(original.content, "base64").toString("utf8") : original.kind === "symlink" ? await readFile(resolve(dirname(paths.resolvConf), original.target), "utf8").catch(() => "") : "";
    const originalLines = originalText.split("\n");
    // The original servers follow ours as fallbacks: the resolver moves on only
    // when ours does not answer (a killed agent: loopback refuses at once), so
    // other names keep resolving until the next start. glibc reads 3 at most.
    const fallbacks = originalLines
      .map((l) => /^\s*nameserver\s+(\S+)/.exec(l)?.[1])
      .filter((ip): ip is string => ip !== undefined && ip !== listen.host)
      .slice(0, 2)
      .map((ip) => `nameserver ${ip}`);
    // "rotate" would send mesh names to a fallback half of the time.
    const keep = originalLines
      .filter((l) => /^\s*(search|domain|options)\b/.test(l))
      .map((l) => (/^\s*options\b/.test(l) ? l.split(/\s+/).filter((w) => w !== "rotate").join(" ") : l))
      .filter((l) => l.trim() !== "options");
    const ours = [`${RESOLV_MARKER}; the original is saved in ${paths.backup} and comes back when the agent stops`, `nameserver ${listen.host}`, ...fallbacks, ...keep].join("\n") + "\n";
    if (current.kind === "file" && current.text === ours) return;
    await writeFileAtomic(paths.resolvConf, ours, 0o644);
  }

  async #restoreResolvConf(): Promise<boolean> {
    const { paths } = this.#o;
    const backup = await this.#readBackup();
    if (backup === undefined) return false;
    const current = await readCurrent(paths.resolvConf);
    if (current.kind === "absent" || !current.text.includes(RESOLV_MARKER)) {
      // Someone else rewrote it since (a DHCP client, an administrator): theirs stays.
      this.#log.warn({ file: paths.resolvConf }, "resolv.conf was replaced by someone else while the agent managed it; left as it is");
    } else if (backup.kind === "file") {
      await writeFileAtomic(paths.resolvConf, Buffer.from(backup.content, "base64"), backup.mode);
    } else if (backup.kind === "symlink") {
      const temp = `${paths.resolvConf}.meshfed-link`;
      await rm(temp, { force: true });
      await symlink(backup.target, temp);
      await rename(temp, paths.resolvConf);
    } else {
      await rm(paths.resolvConf, { force: true });
    }
    // Only once the original is back: a crash before this line restores again next time.
    await rm(paths.backup, { force: true });
    this.#log.info({ file: paths.resolvConf }, "resolv.conf restored");
    return true;
  }

  async #readBackup(): Promise<Backup | undefined> {
    const { paths } = this.#o;
    let text: string;
    try {
      text = await readFile(paths.backup, "utf8");
    } catch {
      return undefined;
    }
    try {
      return backupSchema.parse(JSON.parse(text));
    } catch (err) {
      throw new MeshfedError(HOOK_ERRORS.backupInvalid, `${paths.backup} is not a resolv.conf backup the agent wrote; fix or remove it by hand`, { cause: err });
    }
  }

  // ---- systemd-resolved ----------------------------------------------------

  async #installDropIn(zones: readonly string[]): Promise<void> {
    const { paths, listen } = this.#o;
    const content = [
      `${DROP_IN_MARKER}: mesh names go to the agent's DNS; removed when the agent stops`,
      "[Resolve]",
      `DNS=${formatHostPort(listen)}`,
      `Domains=${zones.map((z) => `~${z}`).join(" ")}`,
    ].join("\n") + "\n";
    const existing = await readFile(paths.resolvedDropIn, "utf8").catch(() => undefined);
    if (existing === content) return;
    await mkdir(dirname(paths.resolvedDropIn), { recursive: true });
    await writeFileAtomic(paths.resolvedDropIn, content, 0o644);
    await this.#reload();
  }

  async #removeDropIn(): Promise<boolean> {
    const { paths } = this.#o;
    const existing = await readFile(paths.resolvedDropIn, "utf8").catch(() => undefined);
    if (existing === undefined || !existing.includes(DROP_IN_MARKER)) return false;
    await rm(paths.resolvedDropIn, { force: true });
    await this.#reload();
    this.#log.info({ file: paths.resolvedDropIn }, "systemd-resolved drop-in removed");
    return true;
  }

  async #resolvedActive(): Promise<boolean> {
    if (this.#o.resolvedActive) return this.#o.resolvedActive();
    return stat(this.#o.paths.resolvedUpstreams).then(() => true, () => false);
  }

  async #reload(): Promise<void> {
    if (this.#o.reloadResolved) return this.#o.reloadResolved();
    await new Promise<void>((resolve, reject) => {
      const child = spawn("systemctl", ["try-reload-or-restart", "systemd-resolved"], { stdio: "ignore" });
      child.on("error", (err) => reject(new MeshfedError(HOOK_ERRORS.reload, `systemctl: ${err.message}`, { cause: err })));
      child.on("exit", (code) => (code === 0 ? resolve() : reject(new MeshfedError(HOOK_ERRORS.reload, `systemctl try-reload-or-restart systemd-resolved exited with ${String(code)}`))));
    });
  }
}

type Current = { kind: "absent"; backup: Backup } | { kind: "file" | "symlink"; text: string; backup: Backup };

/** The live resolv.conf: its text (through a symlink) and what a backup of it must record. */
async function readCurrent(path: string): Promise<Current> {
  let info;
  try {
    info = await lstat(path);
  } catch {
    return { kind: "absent", backup: { kind: "absent" } };
  }
  if (info.isSymbolicLink()) {
    const target = await readlink(path);
    return { kind: "symlink", text: await readFile(path, "utf8").catch(() => ""), backup: { kind: "symlink", target } };
  }
  const bytes = await readFile(path);
  return { kind: "file", text: bytes.toString("utf8"), backup: { kind: "file", mode: info.mode & 0o7777, content: bytes.toString("base64") } };
}
