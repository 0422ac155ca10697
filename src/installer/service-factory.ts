/** Picks the service manager for a host: explicit, or systemd when the host booted with it. */
import type { HostFacts } from "./probe.js";
import type { ServiceManager, ServiceManagerKind, ServiceManagerOptions } from "./service-manager.js";
import { noServiceManager } from "./service-none.js";
import { systemdServiceManager } from "./service-systemd.js";

export function createServiceManager(kind: ServiceManagerKind | "auto", facts: HostFacts, options: ServiceManagerOptions): ServiceManager {
  const chosen = kind === "auto" ? (facts.init === "systemd" ? "systemd" : "none") : kind;
  return chosen === "systemd" ? systemdServiceManager(options) : noServiceManager(options);
}
