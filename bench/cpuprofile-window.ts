/**
 * Reads a V8 `.cpuprofile` (node --cpu-prof) and sums the samples that fall
 * inside given time windows, by function (self time) and by coarse category
 * (TLS, HTTP/2, gRPC, catalog, driver, ...). The windows are CLOCK_MONOTONIC
 * microseconds: the profile's startTime and timeDeltas are V8 TimeTicks,
 * which on Linux is the same clock as process.hrtime in any process, so a
 * parent can mark a phase and the child's profile be cut to it.
 */
import { readFileSync } from "node:fs";

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly children?: readonly number[];
}
interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly startTime: number;
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

export interface Window {
  readonly startMicros: number;
  readonly endMicros: number;
}

export interface WindowSummary {
  /** Sampled time inside the windows that was not idle, ms. */
  readonly busyMs: number;
  readonly byCategory: ReadonlyArray<{ readonly category: string; readonly ms: number }>;
  readonly topFunctions: ReadonlyArray<{ readonly fn: string; readonly ms: number }>;
  /** Inclusive time of frames whose function name matches, ms (a sample counts once per name). */
  readonly inclusive: ReadonlyArray<{ readonly fn: string; readonly ms: number }>;
}

/** The category of a frame, from its script URL (first match wins). */
const CATEGORIES: ReadonlyArray<readonly [string, RegExp]> = [
  ["grpc-js", /@grpc\/grpc-js/],
  ["protobuf", /protobufjs|proto-loader/],
  ["pino/logging", /pino|sonic-boom/],
  ["zod", /\/zod\//],
  ["controller: proxy-control-plane", /src\/controller\/proxy-control-plane\//],
  ["controller: catalog", /src\/controller\/catalog\//],
  ["controller: drivers (render)", /src\/controller\/drivers\//],
  ["controller: certificates", /src\/controller\/certificates\//],
  ["controller: providers", /src\/controller\/providers\//],
  ["controller: store", /src\/controller\/store\//],
  ["controller: other", /src\/controller\//],
  ["meshfed common", /src\/common\//],
  ["node: tls", /node:(internal\/)?(tls|_tls)/],
  ["node: http2", /node:(internal\/)?http2/],
  ["node: streams/events/net", /node:(internal\/)?(streams|stream|events|net|buffer|timers)/],
  ["node: other", /^node:/],
];

function category(node: ProfileNode): string {
  const { url, functionName } = node.callFrame;
  if (url === "") {
    // Native frames: "(garbage collector)", "(program)", "(idle)", or a builtin.
    if (functionName.startsWith("(")) return functionName;
    return "native/builtin";
  }
  for (const [name, re] of CATEGORIES) if (re.test(url)) return name;
  return "other JS";
}

export function summarizeWindows(path: string, windows: readonly Window[], top = 25, inclusiveNames: readonly string[] = []): WindowSummary {
  const profile = JSON.parse(readFileSync(path, "utf8")) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const byCategory = new Map<string, number>();
  const byFunction = new Map<string, number>();
  const inclusive = new Map<string, number>();
  const wanted = new Set(inclusiveNames);
  let busy = 0;
  let t = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i] ?? 0;
    // A sample's weight is the time until the next one (V8 samples at a fixed interval).
    const weight = (profile.timeDeltas[i + 1] ?? 0) / 1000;
    if (!windows.some((w) => t >= w.startMicros && t < w.endMicros)) continue;
    const node = byId.get(profile.samples[i]!);
    if (node === undefined || node.callFrame.functionName === "(idle)") continue;
    busy += weight;
    const cat = category(node);
    byCategory.set(cat, (byCategory.get(cat) ?? 0) + weight);
    const fn = `${node.callFrame.functionName || "(anonymous)"} ${node.callFrame.url.replace(/^.*\/(src|node_modules|bench)\//, "$1/")}:${node.callFrame.lineNumber + 1}`;
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + weight);
    if (wanted.size > 0) {
      const seen = new Set<string>();
      for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
        const name = byId.get(id)!.callFrame.functionName;
        if (wanted.has(name) && !seen.has(name)) {
          seen.add(name);
          inclusive.set(name, (inclusive.get(name) ?? 0) + weight);
        }
      }
    }
  }
  const sorted = (m: Map<string, number>) => [...m.entries()].sort((a, b) => b[1] - a[1]);
  return {
    busyMs: busy,
    byCategory: sorted(byCategory).map(([c, ms]) => ({ category: c, ms })),
    topFunctions: sorted(byFunction).slice(0, top).map(([fn, ms]) => ({ fn, ms })),
    inclusive: sorted(inclusive).map(([fn, ms]) => ({ fn, ms })),
  };
}
