/** What bench/sidecars.ts sends its load-generator child (argv, JSON) and what the child answers (IPC). */
export interface LoadRequest {
  readonly host: string;
  readonly port: number;
  /** Sent as the Host header: the sidecar's outbound listener routes by it. */
  readonly hostHeader: string;
  readonly path: string;
  readonly concurrency: number;
  readonly warmupMs: number;
  readonly durationMs: number;
}

export interface LoadReply {
  /** Requests answered 200 inside the measured window. */
  readonly ok: number;
  /** Requests that failed or answered another status inside the window. */
  readonly errors: number;
  /** The first few failing statuses (0 = connection error or timeout). */
  readonly firstStatuses: string;
  /** Length of the measured window, to the last answer. */
  readonly seconds: number;
  /** Latency percentiles of the 200 answers, ms. */
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
  /** CPU (user + system) the load generator itself used in the window, seconds. */
  readonly cpuSeconds: number;
}

/** The gRPC phase's load generator (bench/sidecars-grpc-load.ts): unary calls on one channel. */
export interface GrpcLoadRequest {
  /** host:port the channel connects to: the server, or the client's outbound listener. */
  readonly address: string;
  /** :authority of every call (grpc.default_authority); names the service to the sidecar. */
  readonly authority?: string;
  readonly concurrency: number;
  readonly warmupMs: number;
  readonly durationMs: number;
}
