/**
 * Load generator of the gRPC phase of the sidecars scenario
 * (bench/sidecars-grpc.ts), forked like bench/sidecars-load.ts so that its
 * CPU is its own. Closed loop: one grpc-js channel (one HTTP/2 connection,
 * as a gRPC client has) carrying `concurrency` unary GetBook calls at a time,
 * back to back, for `warmupMs` (not recorded) and then `durationMs`; latency
 * from the call to its status. One run, one reply over IPC, then exit.
 */
import { booksClient } from "../test/helpers/grpc-books.js";
import { closedLoop, serveForkedJob } from "./closed-loop.js";
import type { GrpcLoadRequest, LoadReply } from "./sidecars-ipc.js";

async function run(j: GrpcLoadRequest): Promise<LoadReply> {
  const client = booksClient(j.address, j.authority);
  let id = 0;
  const reply = await closedLoop(j, async () => {
    const code = await client.getBook(++id, 5_000).then(() => 0, (e: { code?: number }) => e.code ?? -1);
    return code === 0 ? null : `grpc-${code}`;
  });
  client.close();
  return reply;
}

await serveForkedJob("usage: forked by bench/sidecars-grpc.ts with a JSON GrpcLoadRequest as argument", run);
