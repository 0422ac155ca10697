/**
 * Network namespaces for the capture tests: every namespace is named
 * mfcap-<random>, gets its loopback up, and is deleted in t.after, so no test
 * touches the host's own nat table and parallel tests never share one.
 * Without root, `ip` or iptables the tests skip with a message, or fail under
 * CI=true (CI installs iproute2 and iptables and runs as root).
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createInterface } from "node:readline";

export interface Skippable {
  skip(message: string): void;
  after(fn: () => unknown): void;
}

function run(file: string, args: readonly string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(file, [...args], { timeout: 15_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === "number" ? (err as { code: number }).code : 127;
      resolve({ code, stdout, stderr });
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

/** True when namespaces and iptables work here; otherwise skips `t` (or throws under CI=true). */
export async function netnsAvailable(t: Skippable): Promise<boolean> {
  let why: string | undefined;
  if (process.getuid?.() !== 0) why = "the capture tests need root (network namespaces, iptables)";
  else if ((await run("ip", ["netns", "list"])).code !== 0) why = "`ip netns` is not available (install iproute2)";
  else if ((await run("iptables-save", ["--version"])).code !== 0) why = "iptables-save is not installed (install iptables)";
  if (why === undefined) return true;
  if (process.env.CI === "true") throw new Error(`${why}; CI must run the capture tests`);
  t.skip(why);
  return false;
}

export async function sh(...args: string[]): Promise<string> {
  const r = await run(args[0]!, args.slice(1));
  if (r.code !== 0) throw new Error(`${args.join(" ")} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

export class Netns {
  readonly name: string;

  private constructor(name: string) {
    this.name = name;
  }

  /** A new namespace with lo up; deleted (with everything in it) after the test. */
  static async create(t: { after(fn: () => unknown): void }): Promise<Netns> {
    const name = `mfcap-${randomBytes(4).toString("hex")}`;
    await sh("ip", "netns", "add", name);
    t.after(() => run("ip", ["netns", "del", name]));
    const ns = new Netns(name);
    await ns.exec("ip", "link", "set", "lo", "up");
    return ns;
  }

  get prefix(): string[] {
    return ["ip", "netns", "exec", this.name];
  }

  exec(...args: string[]): Promise<string> {
    return sh(...this.prefix, ...args);
  }

  async restore(input: string): Promise<void> {
    const r = await run("ip", ["netns", "exec", this.name, "iptables-restore", "--noflush"], input);
    if (r.code !== 0) throw new Error(`iptables-restore failed: ${r.stderr}`);
  }

  /** `iptables-save -t nat` without the comment lines (they carry a timestamp). */
  async natTable(): Promise<string> {
    return stripComments(await this.exec("iptables-save", "-t", "nat"));
  }

  /** Runs `node -e script` in the namespace (as `user` when given); resolves once it printed "ready". */
  async node(t: { after(fn: () => unknown): void }, script: string, user?: number): Promise<ChildProcess> {
    const child = spawn("ip", ["netns", "exec", this.name, ...asUser(user), process.execPath, "-e", script], { stdio: ["ignore", "pipe", "pipe"] });
    t.after(() => {
      child.kill("SIGKILL");
    });
    await new Promise<void>((resolve, reject) => {
      const lines = createInterface({ input: child.stdout });
      let err = "";
      child.stderr.on("data", (c: Buffer) => (err += c.toString()));
      lines.once("line", (l) => (l === "ready" ? resolve() : reject(new Error(`unexpected first line ${l}`))));
      child.once("exit", (code) => reject(new Error(`node in ${this.name} exited ${code}: ${err}`)));
    });
    return child;
  }

  /** Connects from the namespace (as `user`, a uid, when given) and returns the first line the server wrote. */
  async dial(host: string, port: number, user?: number): Promise<string> {
    const script = `const s=require("node:net").connect(${port},${JSON.stringify(host)});let d="";s.on("data",c=>{d+=c;if(d.includes("\\n")){process.stdout.write(d.split("\\n")[0]);s.destroy();}});s.on("error",e=>{process.stdout.write("error "+e.code);});setTimeout(()=>{process.stdout.write("timeout");process.exit(0)},5000).unref();`;
    const r = await run("ip", ["netns", "exec", this.name, ...asUser(user), process.execPath, "-e", script]);
    if (r.code !== 0) throw new Error(`dial failed (${r.code}): ${r.stderr}`);
    return r.stdout;
  }
}

/** A TCP server script: listens on each host:port and writes "<label>\n" to each connection; prints "ready". */
export function labelServer(listeners: ReadonlyArray<{ host: string; port: number; label: string }>): string {
  return `const net=require("node:net");let n=${listeners.length};for(const l of ${JSON.stringify(listeners)}){net.createServer(s=>{s.end(l.label+"\\n")}).listen(l.port,l.host,()=>{if(--n===0)console.log("ready")})}`;
}

/** setpriv drops to a uid (its gid the same) without a login shell or PAM, so any uid works, with or without a passwd entry. */
function asUser(uid: number | undefined): string[] {
  return uid === undefined ? [] : ["setpriv", `--reuid=${uid}`, `--regid=${uid}`, "--clear-groups"];
}

export function stripComments(save: string): string {
  return save.split("\n").filter((l) => !l.startsWith("#")).join("\n");
}
