/**
 * meshfed's own version: the package's (package.json at the package root),
 * or the one stamped into the agent bundle. Agents report it in Hello, the
 * controller in `/api/v1/replica`, and `meshfed version` prints both.
 */
import { readFileSync } from "node:fs";
import { bundledVersion } from "./bundle-info.js";

let version: string | undefined;

export function meshfedVersion(): string {
  version ??= bundledVersion;
  if (version === undefined) {
    try {
      const pkg = JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as { version?: unknown };
      version = typeof pkg.version === "string" ? pkg.version : "unknown";
    } catch {
      version = "unknown";
    }
  }
  return version;
}
