/**
 * One probe attempt against one endpoint: a TCP connect, or an HTTP GET whose
 * 2xx/3xx status is a success. The prober (prober.ts) owns timing, timeouts
 * and thresholds; a check only reports what happened, in words a person
 * reading `meshfed catalog` understands ("connection refused", "HTTP 500").
 */
import { request } from "node:http";
import { connect } from "node:net";
import type { HealthProbe } from "../../common/health-probe.js";

export type CheckResult = { readonly ok: true } | { readonly ok: false; readonly failure: string };

/** Runs one attempt; must settle soon after `signal` aborts (the prober's timeout). */
export type CheckFn = (probe: HealthProbe, ip: string, signal: AbortSignal) => Promise<CheckResult>;

export const realCheck: CheckFn = (probe, ip, signal) => (probe.type === "tcp" ? tcpCheck(probe.port, ip, signal) : httpCheck(probe, ip, signal));

function describe(err: unknown): string {
  const code = (err as { code?: string }).code;
  if (code === "ECONNREFUSED") return "connection refused";
  if (code === "ECONNRESET") return "connection reset";
  if (code === "EHOSTUNREACH" || code === "ENETUNREACH") return "host unreachable";
  return (err as Error).message || String(err);
}

function tcpCheck(port: number, ip: string, signal: AbortSignal): Promise<CheckResult> {
  return new Promise((resolve) => {
    const socket = connect({ host: ip, port, signal });
    socket.once("connect", () => {
      socket.destroy();
      resolve({ ok: true });
    });
    socket.once("error", (err) => resolve({ ok: false, failure: signal.aborted ? "aborted" : describe(err) }));
  });
}

function httpCheck(probe: HealthProbe, ip: string, signal: AbortSignal): Promise<CheckResult> {
  return new Promise((resolve) => {
    // A fresh connection per attempt (agent: false): a pooled socket would say nothing about whether the app still accepts.
    const req = request({ host: ip, port: probe.port, path: probe.path ?? "/", method: "GET", agent: false, signal, headers: { "user-agent": "meshfed-agent-probe", connection: "close" } }, (res) => {
      const status = res.statusCode ?? 0;
      res.resume();
      resolve(status >= 200 && status < 400 ? { ok: true } : { ok: false, failure: `HTTP ${status}` });
    });
    req.once("error", (err) => resolve({ ok: false, failure: signal.aborted ? "aborted" : describe(err) }));
    req.end();
  });
}
