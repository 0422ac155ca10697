import { randomBytes } from "node:crypto";
import { hostname } from "node:os";

/**
 * A replica's default name: the host name (so operators recognise it) and a
 * random suffix (so two replicas on one host, or a restarted one whose old
 * lease has not expired yet, never share registrations).
 */
export function defaultReplicaId(host = hostname()): string {
  const base = host.toLowerCase().replace(/[^a-z0-9-]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 50) || "replica";
  return `${base}-${randomBytes(3).toString("hex")}`;
}
