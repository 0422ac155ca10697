/**
 * What `meshfed demo --transparent` needs before it touches anything: a
 * Pipy binary, Linux, root (network namespaces, iptables, mounts) and the
 * tools it runs. Each miss is its own named error, so a user (and a test)
 * sees exactly which one.
 */
import { constants } from "node:fs";
import { access } from "node:fs/promises";
import { delimiter, isAbsolute, join, resolve } from "node:path";
import { MeshfedError } from "../../common/errors.js";

export const DEMO_ERRORS = {
  pipyRequired: "MESHFED_DEMO_PIPY_REQUIRED",
  pipyNotFound: "MESHFED_DEMO_PIPY_NOT_FOUND",
  notLinux: "MESHFED_DEMO_NOT_LINUX",
  notRoot: "MESHFED_DEMO_NOT_ROOT",
  toolMissing: "MESHFED_DEMO_TOOL_MISSING",
  commandFailed: "MESHFED_DEMO_COMMAND_FAILED",
  agentNotReady: "MESHFED_DEMO_AGENT_NOT_READY",
  badPrefix: "MESHFED_DEMO_BAD_NETNS_PREFIX",
} as const;

/** Namespace names become file names under /run/netns and arguments to ip: a short, plain prefix only. */
export function checkNetnsPrefix(prefix: string): string {
  if (!/^[a-z0-9][a-z0-9-]{0,23}$/.test(prefix)) {
    throw new MeshfedError(DEMO_ERRORS.badPrefix, `--netns-prefix "${prefix}": 1 to 24 of a-z, 0-9 and "-", starting with a letter or digit`);
  }
  return prefix;
}

/** iproute2 for namespaces and veth, iptables for the agents' rules, util-linux for bookbuyer's private /etc. */
export const DEMO_TOOLS = ["ip", "iptables", "iptables-save", "unshare", "nsenter", "mount"] as const;

const executable = (path: string) => access(path, constants.X_OK).then(() => true, () => false);

/** The first executable `name` on PATH, or undefined. */
export async function findOnPath(name: string, path = process.env.PATH ?? ""): Promise<string | undefined> {
  for (const dir of path.split(delimiter).filter((d) => d !== "")) {
    const candidate = join(dir, name);
    if (await executable(candidate)) return candidate;
  }
  return undefined;
}

/**
 * Throws the first unmet prerequisite; returns the Pipy binary's absolute
 * path. --pipy is checked first: it is the one thing a user always has to
 * add, and the check does not depend on the machine.
 */
export async function checkTransparentPrerequisites(pipy: string | undefined): Promise<string> {
  if (pipy === undefined || pipy === "") {
    throw new MeshfedError(DEMO_ERRORS.pipyRequired, "demo --transparent runs real Pipy proxies: pass --pipy PATH (a Pipy 1.5 binary)");
  }
  if (process.platform !== "linux") {
    throw new MeshfedError(DEMO_ERRORS.notLinux, `demo --transparent needs Linux network namespaces and iptables (this is ${process.platform})`);
  }
  if (process.getuid?.() !== 0) {
    throw new MeshfedError(DEMO_ERRORS.notRoot, "demo --transparent must run as root: it creates network namespaces and the agents install iptables rules in them (this machine's own rules and resolver are not touched)");
  }
  for (const tool of DEMO_TOOLS) {
    if ((await findOnPath(tool)) === undefined) {
      throw new MeshfedError(DEMO_ERRORS.toolMissing, `demo --transparent needs "${tool}" on PATH (packages: iproute2, iptables, util-linux)`, { details: { tool } });
    }
  }
  const bin = pipy.includes("/") || isAbsolute(pipy) ? resolve(pipy) : await findOnPath(pipy);
  if (bin === undefined || !(await executable(bin))) {
    throw new MeshfedError(DEMO_ERRORS.pipyNotFound, `--pipy ${pipy}: no executable file there`, { details: { pipy } });
  }
  return bin;
}
