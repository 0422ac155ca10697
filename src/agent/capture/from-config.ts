/**
 * Builds the capture manager from the agent config: the proxy user resolved
 * to a uid, the controllers' host names resolved to addresses (their streams
 * must never be redirected), the inbound ports from the declared endpoints.
 */
import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import { parseHostPort } from "../../common/address.js";
import { MeshfedError } from "../../common/errors.js";
import type { Logger } from "../../common/logger.js";
import type { AgentConfig } from "../config.js";
import { CAPTURE_ERRORS, Iptables } from "./iptables.js";
import { CaptureManager } from "./manager.js";
import { resolveProxyUser, type ProxyUser } from "./proxy-user.js";

export interface CaptureSetup {
  readonly manager: CaptureManager | undefined;
  readonly user: ProxyUser | undefined;
}

export async function captureFromConfig(config: AgentConfig, logger: Logger, commandPrefix?: readonly string[]): Promise<CaptureSetup> {
  const user = config.proxy.user === undefined ? undefined : await resolveProxyUser(config.proxy.user);
  const c = config.capture;
  if (c.mode === "none") return { manager: undefined, user };
  if (!config.proxy.enabled) {
    throw new MeshfedError("MESHFED_AGENT_CONFIG_INVALID", "capture.mode transparent needs the proxy (--no-proxy would leave every captured connection without a listener)");
  }
  if (user === undefined) {
    throw new MeshfedError(CAPTURE_ERRORS.proxyUserRequired, "capture.mode transparent needs proxy.user (--proxy-user): the user Pipy runs as, whose connections are not redirected (the installer creates meshfed-proxy)");
  }
  const manager = new CaptureManager({
    rules: {
      proxyUid: user.uid,
      outboundPort: c.outboundPort,
      inboundOffset: c.inboundPortOffset,
      inboundPorts: config.endpoints.map((e) => parseHostPort(e).port),
      excludeInboundPorts: c.excludeInboundPorts,
      controllerAddresses: await controllerAddresses(config.controller, logger),
      excludeOutboundIPRanges: c.excludeOutboundIPRanges,
      excludeOutboundPorts: c.excludeOutboundPorts,
      includeOutboundIPRanges: c.includeOutboundIPRanges,
      includeOutboundPorts: c.includeOutboundPorts,
    },
    iptables: new Iptables(commandPrefix === undefined ? {} : { prefix: commandPrefix }),
    ip6tables: new Iptables({ family: 6, ...(commandPrefix === undefined ? {} : { prefix: commandPrefix }) }),
    logger,
  });
  return { manager, user };
}

/** IPv4 addresses of the controllers; a name that does not resolve is logged and left out (its stream then passes through Pipy). */
async function controllerAddresses(controllers: readonly string[], logger: Logger): Promise<string[]> {
  const out = new Set<string>();
  for (const c of controllers) {
    const { host } = parseHostPort(c);
    if (isIP(host) !== 0) {
      out.add(host);
      continue;
    }
    try {
      for (const a of await lookup(host, { all: true, family: 4 })) out.add(a.address);
    } catch (err) {
      logger.warn({ controller: c, err: (err as Error).message, code: "MESHFED_CAPTURE_CONTROLLER_UNRESOLVED" }, "controller name does not resolve; its address is not excluded from capture");
    }
  }
  return [...out];
}
