/**
 * The two iptables commands the capture manager needs: `iptables-save -t nat`
 * to read the table and `iptables-restore --noflush` to change it in one
 * transaction (docs/dataplane.md "Capture"). `prefix` runs them elsewhere
 * (tests: `ip netns exec NAME`), so a test never touches the host's table.
 */
import { execFile, spawn } from "node:child_process";
import { MeshfedError } from "../../common/errors.js";

export const CAPTURE_ERRORS = {
  iptablesMissing: "MESHFED_CAPTURE_IPTABLES_MISSING",
  nftablesOnly: "MESHFED_CAPTURE_NFTABLES_ONLY",
  notPermitted: "MESHFED_CAPTURE_NOT_PERMITTED",
  applyFailed: "MESHFED_CAPTURE_APPLY_FAILED",
  readFailed: "MESHFED_CAPTURE_READ_FAILED",
  invalid: "MESHFED_CAPTURE_INVALID",
  ipv6Unguarded: "MESHFED_CAPTURE_IPV6_UNGUARDED",
  proxyUserRequired: "MESHFED_CAPTURE_PROXY_USER_REQUIRED",
  proxyUserUnknown: "MESHFED_CAPTURE_PROXY_USER_UNKNOWN",
} as const;

export interface IptablesOptions {
  /** Command words put before each command, e.g. ["ip", "netns", "exec", "ns1"]. */
  readonly prefix?: readonly string[];
  /** Directory of iptables-save / iptables-restore; default: PATH. */
  readonly binDir?: string;
  readonly timeoutMs?: number;
  /** 6: ip6tables-save / ip6tables-restore (the IPv6 inbound guard); default 4. */
  readonly family?: 4 | 6;
}

interface Result {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly missing: boolean;
}

export class Iptables {
  readonly #o: IptablesOptions;

  constructor(options: IptablesOptions = {}) {
    this.#o = options;
  }

  /** The nat table as iptables-save prints it. */
  saveNat(): Promise<string> {
    return this.save("nat");
  }

  /** One table as (ip6)iptables-save prints it. */
  async save(table: "nat" | "filter"): Promise<string> {
    const r = await this.#run(this.#bin("save"), ["-t", table]);
    if (r.code === 0) return r.stdout;
    throw await this.#failure(`${this.#bin("save")} -t ${table}`, r, CAPTURE_ERRORS.readFailed);
  }

  /** Applies one (ip6)iptables-restore input without flushing anything it does not name. */
  async restore(input: string): Promise<void> {
    const r = await this.#run(this.#bin("restore"), ["--noflush"], input);
    if (r.code === 0) return;
    throw await this.#failure(`${this.#bin("restore")} --noflush`, r, CAPTURE_ERRORS.applyFailed, input);
  }

  /** Whether the host (or the namespace the prefix enters) has an IPv6 address on an interface other than loopback. */
  async hasIpv6(): Promise<boolean> {
    const r = await this.#run("cat", ["/proc/net/if_inet6"], undefined, false);
    // Columns: address, index, prefix length, scope, flags, interface name.
    return r.code === 0 && r.stdout.split("\n").some((l) => { const f = l.trim().split(/\s+/); return f.length === 6 && f[5] !== "lo"; });
  }

  #bin(what: "save" | "restore"): string {
    return `${this.#o.family === 6 ? "ip6tables" : "iptables"}-${what}`;
  }

  /**
   * Whether this host can capture: iptables-save must run and print a nat
   * table. The named errors say what is missing (the installer shows them).
   */
  async probe(): Promise<{ version: string }> {
    const save = await this.saveNat();
    const m = /iptables-save (v[\d.]+(?: \([a-z_]+\))?)/.exec(save);
    const v = await this.#run("iptables", ["--version"]);
    return { version: m?.[1] ?? (v.stdout.trim() || "unknown") };
  }

  async #failure(what: string, r: Result, code: string, input?: string): Promise<MeshfedError> {
    if (r.missing) {
      // An nftables-only host (no iptables-nft compatibility package) needs `nft` rules we do not write yet.
      const nft = await this.#run("nft", ["--version"]);
      return nft.missing
        ? new MeshfedError(CAPTURE_ERRORS.iptablesMissing, `${what}: iptables is not installed; transparent capture needs iptables (the nft or legacy backend)`)
        : new MeshfedError(CAPTURE_ERRORS.nftablesOnly, `${what}: this host has nftables (nft) but no iptables; transparent capture needs the iptables-nft compatibility tools (Debian/Ubuntu: apt-get install iptables)`);
    }
    if (/permission denied|operation not permitted|you must be root/i.test(r.stderr)) {
      return new MeshfedError(CAPTURE_ERRORS.notPermitted, `${what}: not permitted (${r.stderr.trim()}); the agent needs root or CAP_NET_ADMIN for transparent capture`);
    }
    return new MeshfedError(code, `${what} failed (exit ${r.code}): ${r.stderr.trim() || r.stdout.trim()}`, input === undefined ? {} : { details: { input } });
  }

  #run(command: string, args: readonly string[], stdin?: string, fromBinDir = true): Promise<Result> {
    const prefix = this.#o.prefix ?? [];
    const bin = this.#o.binDir === undefined || !fromBinDir ? command : `${this.#o.binDir}/${command}`;
    const [file, ...rest] = prefix.length > 0 ? [...prefix, bin, ...args] : [bin, ...args];
    return new Promise((resolve) => {
      if (stdin === undefined) {
        execFile(file!, rest, { timeout: this.#o.timeoutMs ?? 10_000 }, (err, stdout, stderr) => {
          const e = err as (NodeJS.ErrnoException & { code?: unknown }) | null;
          resolve({ code: e === null ? 0 : typeof e.code === "number" ? e.code : null, stdout, stderr, missing: e?.code === "ENOENT" || notFound(stderr) });
        });
        return;
      }
      const child = spawn(file!, rest, { stdio: ["pipe", "pipe", "pipe"], timeout: this.#o.timeoutMs ?? 10_000 });
      let stdout = "";
      let stderr = "";
      let missing = false;
      child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
      child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
      child.on("error", (err: NodeJS.ErrnoException) => {
        if (err.code === "ENOENT") missing = true;
      });
      child.stdin.on("error", () => undefined);
      child.on("close", (code) => resolve({ code, stdout, stderr, missing: missing || notFound(stderr) }));
      child.stdin.end(stdin);
    });
  }
}

/** `ip netns exec` reports a missing command on stderr instead of ENOENT. */
function notFound(stderr: string): boolean {
  return /exec of ".*" failed: No such file or directory/.test(stderr);
}
