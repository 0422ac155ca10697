/**
 * The controller side of the agents benchmark: one controller process, or
 * several replicas sharing their state in etcd (issue 8, docs/ha.md), each
 * a child process (agents-controller.ts) so that each one's memory is
 * measured alone. Replicas are started one after the other: the first
 * creates the CA and the serving certificate in etcd, the others load them.
 */
import type { ChildProcess } from "node:child_process";
import { request, type ControllerEvent, type MemoryReply, type UsageReply } from "./agents-ipc.js";

export interface Replica {
  readonly child: ChildProcess;
  readonly adminUrl: string;
  readonly grpcAddress: string;
}

export interface ReplicaOptions {
  readonly count: number;
  readonly driver?: "pipy" | "json";
  /** `etcd://host:port` when replicas share a store; absent: each uses its own data directory (file store). */
  readonly store?: string;
  /** `grpc.reconnectGrace` in seconds; absent: the controller's default. */
  readonly reconnectGraceSeconds?: number;
  /** true: `grpc.massDisconnect.threshold` 0 on every replica. */
  readonly massDisconnectOff?: boolean;
  /** Forks one controller child with these arguments (the caller owns the children's cleanup). */
  readonly spawn: (args: string[]) => ChildProcess;
  /** The benchmark's temp directory (hosts.yaml, smi/, the data directories). */
  readonly dir: string;
}

/** The proxy list entry the cross-check reads from `GET /api/v1/proxies`. */
export interface ListedProxy {
  /** false: another replica holds the stream (its config and ACK are not known here). */
  readonly local?: boolean;
  readonly config: { readonly version: number } | null;
  readonly lastAck: { readonly version: number; readonly ok: boolean } | null;
}

export class Replicas {
  private constructor(readonly all: readonly Replica[]) {}

  static async start(o: ReplicaOptions): Promise<Replicas> {
    if (o.count > 1 && o.store === undefined) throw new Error("more than one replica needs a shared store (etcd)");
    const started: Replica[] = [];
    for (let k = 0; k < o.count; k++) {
      const child = o.spawn([
        o.dir, "--data", `data-${k}`,
        ...(o.driver ? ["--driver", o.driver] : []),
        ...(o.reconnectGraceSeconds === undefined ? [] : ["--reconnect-grace", String(o.reconnectGraceSeconds)]),
        ...(o.massDisconnectOff === true ? ["--mass-disconnect-off"] : []),
        ...(o.store ? ["--store", o.store, "--replica-id", `bench-${k}`] : []),
      ]);
      started.push({ child, ...(await controllerReady(child)) });
    }
    return new Replicas(started);
  }

  get first(): Replica {
    return this.all[0]!;
  }

  memory(): Promise<MemoryReply[]> {
    return Promise.all(this.all.map((r) => request<MemoryReply>(r.child, { type: "memory" }, 30_000)));
  }

  usage(resetPeak: boolean): Promise<UsageReply[]> {
    return Promise.all(this.all.map((r) => request<UsageReply>(r.child, { type: "usage", resetPeak }, 30_000)));
  }

  /**
   * Every proxy once, from the replica holding its stream: each replica
   * lists the others' proxies too (docs/ha.md), without their ACKs.
   */
  async proxies(): Promise<ListedProxy[]> {
    const lists = await Promise.all(this.all.map(async (r) => JSON.parse(await admin(r.adminUrl, "/api/v1/proxies")) as ListedProxy[]));
    return lists.flat().filter((p) => p.local !== false);
  }

  /** Asks each to stop; never throws (the caller kills what does not exit). */
  async stop(): Promise<void> {
    await Promise.all(this.all.map((r) => request(r.child, { type: "stop" }, 20_000).catch(() => undefined)));
  }
}

export async function admin(base: string, path: string, body?: unknown): Promise<string> {
  const res = await fetch(`${base}${path}`, body === undefined ? {} : { method: "POST", body: JSON.stringify(body), headers: { "content-type": "application/json" } });
  const text = await res.text();
  if (!res.ok) throw new Error(`admin API ${path}: ${res.status} ${text}`);
  return text;
}

async function controllerReady(child: ChildProcess): Promise<{ adminUrl: string; grpcAddress: string }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("the controller did not start within 60 s")), 60_000);
    const onExit = (code: number | null) => reject(new Error(`the controller exited (${code}) while starting`));
    child.once("exit", onExit);
    const onMessage = (m: ControllerEvent) => {
      if (m.type !== "ready" && m.type !== "failed") return;
      clearTimeout(timer);
      child.off("exit", onExit);
      child.off("message", onMessage);
      if (m.type === "ready") resolve({ adminUrl: m.adminUrl, grpcAddress: m.grpcAddress });
      else reject(new Error(`the controller failed to start: ${m.message}`));
    };
    child.on("message", onMessage);
  });
}
