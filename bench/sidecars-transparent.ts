/**
 * The transparent-capture phases of the sidecars scenario (issues 14 and 15),
 * with a real Pipy in two network namespaces (test/helpers/netns-mesh.ts):
 * host a runs bookbuyer's sidecar and nat OUTPUT capture rules, host b the
 * callees behind their sidecars. In the same run and over the same veth:
 *
 * - HTTP, sequential keep-alive GETs from an unchanged client in host a:
 *   "direct" (the client runs as the sidecar's uid, which capture skips),
 *   "explicit" (to the sidecar's 127.0.0.1 listener with a Host header) and
 *   "transparent" (plain GETs to the peer's address, captured): requests/s,
 *   p99, and their ratios to direct.
 * - TCP, a framed server-speaks-first protocol on one connection: round
 *   trips/s and p99, direct and through both sidecars (mTLS).
 *
 * Needs root, iproute2, iptables and setpriv: otherwise one "skipped" line.
 */
import { netnsUnavailable } from "../test/helpers/netns.js";
import { PIPY_UID, PORTS, startMesh } from "../test/helpers/netns-mesh.js";
import type { Report } from "./sidecars.js";

export interface TransparentBenchOptions {
  readonly pipy: string;
  /** Sequential HTTP requests per phase. */
  readonly requests: number;
  /** Round trips of the framed TCP phase. */
  readonly roundTrips: number;
  readonly report: Report;
}

interface HttpRun { statuses?: Record<string, number>; bodies?: Record<string, number>; perSecond: number; p99: number; error?: string }
interface FramedRun { roundTrips?: number; perSecond: number; p99: number; error?: string }

export async function runTransparentBenchmark(o: TransparentBenchOptions): Promise<void> {
  const scenario = `sidecars transparent (netns) c=1 n=${o.requests}`;
  const why = await netnsUnavailable();
  if (why !== undefined) {
    console.log(JSON.stringify({ scenario, skipped: why }));
    return;
  }
  const undo: Array<() => unknown> = [];
  try {
    const mesh = await startMesh({ after: (fn) => undo.push(fn) }, o.pipy, "mfdb");
    const url = `http://${mesh.b2}:${PORTS.http}/books`;
    // Each phase must have taken the path it names: through the sidecars the
    // app sees bookbuyer's verified identity, directly it sees none.
    const http = async (name: string, mode: Record<string, unknown>, options: { uid?: number } = {}) => {
      const count = (mode.count as number | undefined) ?? o.requests;
      const r = await mesh.client<HttpRun>({ mode: "http", ...mode, count }, options);
      const peer = JSON.stringify({ service: "bookstore", peer: options.uid === PIPY_UID ? null : "bookbuyer.shop.svc.cluster.local" });
      if (r.error !== undefined || r.statuses?.["200"] !== count || r.bodies?.[peer] !== count) throw new Error(`${name}: ${JSON.stringify(r)}`);
      return r;
    };
    // Warm-up (connections, TLS sessions, JIT) outside the measured windows.
    await http("warm-up", { url, count: Math.min(200, o.requests) });
    const direct = await http("direct", { url }, { uid: PIPY_UID });
    const explicit = await http("explicit", { url: `http://${mesh.explicit()}/books`, hostHeader: "bookstore.shop" });
    const transparent = await http("transparent", { url });
    for (const [name, r] of [["direct", direct], ["explicit sidecars", explicit], ["transparent sidecars", transparent]] as const) {
      o.report(scenario, `${name}: requests/s`, r.perSecond, "req/s");
      o.report(scenario, `${name}: latency p99`, r.p99, "ms");
    }
    o.report(scenario, "ratio requests/s explicit / direct", explicit.perSecond / direct.perSecond, "x");
    o.report(scenario, "ratio requests/s transparent / direct", transparent.perSecond / direct.perSecond, "x");
    o.report(scenario, "ratio p99 explicit / direct", explicit.p99 / direct.p99, "x");
    o.report(scenario, "ratio p99 transparent / direct", transparent.p99 / direct.p99, "x");

    const framed = async (name: string, options: { uid?: number } = {}) => {
      const r = await mesh.client<FramedRun>({ mode: "framed", host: mesh.b2, port: PORTS.framed, roundTrips: o.roundTrips }, options);
      if (r.error !== undefined || r.roundTrips !== o.roundTrips) throw new Error(`TCP ${name}: ${JSON.stringify(r)}`);
      return r;
    };
    const tcpScenario = `sidecars TCP (netns) framed n=${o.roundTrips}`;
    const tcpDirect = await framed("direct", { uid: PIPY_UID });
    const tcpMesh = await framed("transparent");
    for (const [name, r] of [["direct", tcpDirect], ["transparent sidecars", tcpMesh]] as const) {
      o.report(tcpScenario, `${name}: round trips/s`, r.perSecond, "round trips/s");
      o.report(tcpScenario, `${name}: round trip p99`, r.p99, "ms");
    }
    o.report(tcpScenario, "ratio round trips/s sidecars / direct", tcpMesh.perSecond / tcpDirect.perSecond, "x");
    o.report(tcpScenario, "ratio p99 sidecars / direct", tcpMesh.p99 / tcpDirect.p99, "x");
  } finally {
    for (const fn of undo.reverse()) await Promise.resolve(fn()).catch(() => undefined);
  }
}
