import type { ProxyView } from "../../catalog/types.js";
import { canonicalJson, proxyConfig } from "../config-hash.js";
import type { ProxyConfig, SidecarDriver } from "../types.js";

/**
 * The ProxyView itself as `/config.json`. It is what agents receive until the
 * Pipy driver exists, and what a proxy without a driver of its own (or an
 * operator debugging one) can read.
 */
export class JsonDriver implements SidecarDriver {
  readonly name = "json";

  render(view: ProxyView): ProxyConfig {
    const body = canonicalJson({ schema: "meshfed.io/proxy-view/v1", view });
    return proxyConfig(this.name, [{ path: "/config.json", content: Buffer.from(`${body}\n`, "utf8") }]);
  }
}
