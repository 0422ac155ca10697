/**
 * The user Pipy runs as under transparent capture: its uid is what
 * MESHFED_OUTPUT lets through unredirected, so it must be a user of its own
 * (the installer creates `meshfed-proxy`), never root and never the agent's.
 */
import { execFile } from "node:child_process";
import { MeshfedError } from "../../common/errors.js";
import { CAPTURE_ERRORS } from "./iptables.js";

export interface ProxyUser {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
}

/** `meshfed-proxy` (looked up with getent), `1500` or `1500:1500`. Root is refused: excluding uid 0 would exclude every root process. */
export async function resolveProxyUser(spec: string): Promise<ProxyUser> {
  const numeric = /^(\d+)(?::(\d+))?$/.exec(spec);
  let user: ProxyUser;
  if (numeric) {
    const uid = Number(numeric[1]);
    user = { name: spec, uid, gid: numeric[2] === undefined ? uid : Number(numeric[2]) };
  } else {
    const line = await new Promise<string>((resolve) => {
      execFile("getent", ["passwd", spec], { timeout: 5000 }, (err, stdout) => resolve(err ? "" : stdout.trim()));
    });
    const fields = line.split(":");
    if (fields.length < 4 || !/^\d+$/.test(fields[2]!) || !/^\d+$/.test(fields[3]!)) {
      throw new MeshfedError(CAPTURE_ERRORS.proxyUserUnknown, `proxy user "${spec}" does not exist on this host (the installer creates meshfed-proxy; or give a numeric uid[:gid])`);
    }
    user = { name: spec, uid: Number(fields[2]), gid: Number(fields[3]) };
  }
  if (user.uid === 0) throw new MeshfedError(CAPTURE_ERRORS.proxyUserRequired, `proxy user "${spec}" is root: its connections are excluded from capture, so Pipy needs a user of its own`);
  return user;
}
