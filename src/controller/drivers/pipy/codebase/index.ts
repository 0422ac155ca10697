/**
 * The PipyJS codebase every sidecar runs, in the order of Pipy's manifest
 * (entry first). Kept as TypeScript string modules rather than .js asset
 * files so that `tsc` alone puts them into dist (no copy step, nothing to
 * resolve relative to import.meta.url at run time), and so that the driver's
 * output is a pure function of the compiled code. The scripts are plain
 * ES-module JavaScript within PipyJS's subset; test/unit/pipy-codebase-syntax
 * checks each with `node --check`. They avoid backquotes and "${" so that
 * String.raw keeps every byte.
 */
import { BALANCING_JS } from "./balancing-js.js";
import { CIDR_JS } from "./cidr-js.js";
import { CIRCUIT_BREAKER_JS } from "./circuit-breaker-js.js";
import { CONFIG_JS } from "./config-js.js";
import { EGRESS_JS } from "./egress-js.js";
import { HEALTH_JS } from "./health-js.js";
import { INBOUND_JS } from "./inbound-js.js";
import { INGRESS_JS } from "./ingress-js.js";
import { MAIN_JS } from "./main-js.js";
import { METRICS_JS } from "./metrics-js.js";
import { OUTBOUND_JS } from "./outbound-js.js";
import { RATE_LIMIT_JS } from "./rate-limit-js.js";
import { REPLIES_JS } from "./replies-js.js";
import { RETRY_JS } from "./retry-js.js";
import { SCRAPE_JS } from "./scrape-js.js";
import { ROUTING_JS } from "./routing-js.js";
import { TCP_JS } from "./tcp-js.js";
import { TLS_JS } from "./tls-js.js";
import { TRANSPARENT_JS } from "./transparent-js.js";

export const CODEBASE: readonly { readonly path: string; readonly source: string }[] = [
  { path: "/main.js", source: MAIN_JS },
  { path: "/config.js", source: CONFIG_JS },
  { path: "/tls.js", source: TLS_JS },
  { path: "/routing.js", source: ROUTING_JS },
  { path: "/balancing.js", source: BALANCING_JS },
  { path: "/replies.js", source: REPLIES_JS },
  { path: "/retry.js", source: RETRY_JS },
  { path: "/circuit-breaker.js", source: CIRCUIT_BREAKER_JS },
  { path: "/rate-limit.js", source: RATE_LIMIT_JS },
  { path: "/inbound.js", source: INBOUND_JS },
  { path: "/outbound.js", source: OUTBOUND_JS },
  { path: "/tcp.js", source: TCP_JS },
  { path: "/transparent.js", source: TRANSPARENT_JS },
  { path: "/cidr.js", source: CIDR_JS },
  { path: "/egress.js", source: EGRESS_JS },
  { path: "/ingress.js", source: INGRESS_JS },
  { path: "/metrics.js", source: METRICS_JS },
  { path: "/scrape.js", source: SCRAPE_JS },
  { path: "/health.js", source: HEALTH_JS },
];
