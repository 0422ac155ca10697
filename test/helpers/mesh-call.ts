// One HTTP/1.1 request from a host into the mesh through its sidecar's
// outbound listener (the real-Pipy tests' "the app calls a service").
// Never rejects: a failure is an answer with status 0 and the error in
// `body`, so a load loop can count failures instead of aborting on the first.
import { request, type Agent } from "node:http";
import { OUTBOUND_PORT } from "./pipy-mesh.js";

export interface MeshAnswer {
  readonly status: number;
  readonly body: string;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly ms: number;
}

export function meshCall(o: {
  /** The calling host's address (its sidecar listens there). */
  readonly from: string;
  /** The Host header: the mesh service called, e.g. `bookstore.bookstore`. */
  readonly host: string;
  readonly path: string;
  readonly method?: string;
  readonly body?: string;
  readonly agent?: Agent;
  readonly timeoutMs?: number;
}): Promise<MeshAnswer> {
  const started = Date.now();
  return new Promise((resolve) => {
    const req = request({ host: o.from, port: OUTBOUND_PORT, path: o.path, method: o.method ?? "GET", headers: { host: o.host }, ...(o.agent === undefined ? {} : { agent: o.agent }), timeout: o.timeoutMs ?? 10_000 }, (res) => {
      let body = "";
      res.setEncoding("utf8").on("data", (d: string) => (body += d)).on("end", () => {
        resolve({ status: res.statusCode ?? 0, body: body.trim(), headers: res.headers, ms: Date.now() - started });
      });
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", (err) => resolve({ status: 0, body: `error ${err.message}`, headers: {}, ms: Date.now() - started }));
    req.end(o.body);
  });
}

/** `field` of a 200's JSON body (the backend naming itself), else `status body` or `error ...`. */
export async function answeredBy(answer: Promise<MeshAnswer>, field: string): Promise<string> {
  const a = await answer;
  if (a.status === 0) return a.body;
  if (a.status !== 200) return `${a.status} ${a.body}`;
  return String((JSON.parse(a.body) as Record<string, unknown>)[field]);
}
