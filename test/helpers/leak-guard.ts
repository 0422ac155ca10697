/**
 * A test file that leaves a timer, socket, server or child process behind
 * never exits, and `node --test` waits for it until the file's timeout (CI:
 * ten minutes of "test timed out" that names nothing). `failOnLeaks()`, called
 * once at the top of a test file, adds a file-level `after` hook: once every
 * test and every `t.after` hook has run, it waits up to `graceMs` for the
 * event loop to hold no more than it held when the file was loaded, and
 * otherwise fails the file with the list of what is left (resource types,
 * the handles' addresses and pids, the timers' callbacks and where they were
 * armed), then ends the process so the report reaches the runner.
 */
import { createHook } from "node:async_hooks";
import { after } from "node:test";

/** What a leaked timer looks like to us: Node's Timeout object, not a public type. */
interface TimerLike {
  hasRef(): boolean;
  readonly _destroyed?: boolean;
  readonly _idleTimeout?: number;
  readonly _repeat?: number | null;
  readonly _onTimeout?: unknown;
}

interface ArmedTimer {
  readonly timer: TimerLike;
  readonly where: string;
}

export interface LeakGuardOptions {
  /** How long the loop may take to drain after the last hook; ms. Closes that end in the background (sockets, child exits) need a moment. */
  readonly graceMs?: number;
  /** How long the report gets to reach the test runner before the process is ended; ms. */
  readonly exitAfterMs?: number;
}

export function failOnLeaks(options: LeakGuardOptions = {}): void {
  const graceMs = options.graceMs ?? 10_000;
  const exitAfterMs = options.exitAfterMs ?? 2_000;
  // Loaded under `node --test`, the file already holds the runner's pipes: that is the floor.
  const baseline = counts(process.getActiveResourcesInfo());
  const timers = trackTimers();
  after(async () => {
    const deadline = Date.now() + graceMs;
    for (;;) {
      // Read after our own sleep fired, so it is not among the timers counted.
      const left = excess(counts(process.getActiveResourcesInfo()), baseline);
      if (left.length === 0) {
        timers.stop();
        return;
      }
      if (Date.now() >= deadline) {
        timers.stop();
        const report = describe(left, timers.live());
        process.stderr.write(`${report}\n`);
        // The leak holds the loop: end the process once the runner has the failure below.
        setTimeout(() => process.exit(1), exitAfterMs).unref();
        throw new Error(report);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  });
}

function counts(types: readonly string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const t of types) m.set(t, (m.get(t) ?? 0) + 1);
  return m;
}

function excess(now: Map<string, number>, base: Map<string, number>): string[] {
  const out: string[] = [];
  for (const [type, n] of now) {
    const extra = n - (base.get(type) ?? 0);
    if (extra > 0) out.push(`${type} x${extra}`);
  }
  return out.sort();
}

/**
 * Remembers every timer armed while the file runs, with the stack that armed
 * it (the callback alone is often an anonymous arrow in a library), and
 * forgets the ones that fired or were cleared, so the report can name the
 * timers still holding the loop.
 */
function trackTimers(): { live(): ArmedTimer[]; stop(): void } {
  const armed = new Set<ArmedTimer>();
  let inits = 0;
  const hook = createHook({
    init(_id, type, _trigger, resource) {
      if (type !== "Timeout") return;
      const where = (new Error().stack ?? "").split("\n").slice(2).filter((l) => !l.includes("node:internal")).slice(0, 6).join("\n");
      armed.add({ timer: resource as TimerLike, where });
      // Timers come and go by the thousand (gRPC, etcd keep-alives): prune the dead now and then.
      if (++inits % 1_000 === 0) for (const a of armed) if (a.timer._destroyed) armed.delete(a);
    },
  });
  hook.enable();
  return {
    live: () => [...armed].filter((a) => !a.timer._destroyed && a.timer.hasRef()),
    stop: () => hook.disable(),
  };
}

function describe(left: readonly string[], timers: readonly ArmedTimer[]): string {
  const lines = [`the event loop did not drain after the file's tests: ${left.join(", ")} more than at start`];
  for (const h of activeHandles()) lines.push(`  handle ${h}`);
  for (const { timer, where } of timers) {
    const cb = typeof timer._onTimeout === "function" ? String(timer._onTimeout).replace(/\s+/g, " ").slice(0, 160) : "?";
    const every = timer._repeat ? `every ${timer._repeat} ms` : `after ${timer._idleTimeout ?? "?"} ms`;
    lines.push(`  timer ${every}: ${cb}\n${where.replace(/^/gm, "      ")}`);
  }
  return lines.join("\n");
}

/** Sockets, servers and child processes by address or pid: `process._getActiveHandles` is undocumented, so read it defensively. */
function activeHandles(): string[] {
  const get = (process as unknown as { _getActiveHandles?: () => unknown[] })._getActiveHandles;
  if (typeof get !== "function") return [];
  // The runner's own pipes (our stdio) are there from the start: not news.
  const stdio = new Set<unknown>([process.stdin, process.stdout, process.stderr]);
  return get.call(process).filter((h) => !stdio.has(h)).map((h) => {
    const o = h as Record<string, unknown> & { constructor?: { name?: string } };
    const name = o.constructor?.name ?? typeof h;
    if (typeof o.pid === "number") return `${name} pid ${o.pid} ${typeof o.spawnfile === "string" ? o.spawnfile : ""}`;
    if (typeof o.remotePort === "number") return `${name} ${String(o.localAddress)}:${String(o.localPort)} -> ${String(o.remoteAddress)}:${String(o.remotePort)}`;
    const address = typeof o.address === "function" ? safe(() => (o.address as () => unknown).call(h)) : undefined;
    if (address && typeof address === "object") return `${name} listening ${JSON.stringify(address)}`;
    const fd = (o._handle as { fd?: number } | undefined)?.fd;
    return `${name}${fd !== undefined ? ` fd ${fd}` : ""}`;
  });
}

function safe<T>(fn: () => T): T | undefined {
  try {
    return fn();
  } catch {
    return undefined;
  }
}
