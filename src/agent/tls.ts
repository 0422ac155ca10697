/**
 * TLS towards the controller. Both Enroll (server-authenticated) and Connect
 * (mTLS) pin the CA bundle the agent holds: grpc-js verifies that the server
 * certificate chains to it. Instead of a host-name check (controllers sit
 * behind load balancers and are reached by IP as often as by name), the
 * server certificate must carry a SPIFFE URI SAN whose path is exactly
 * `/meshfed/controller`. Any trust domain is accepted: the pinned CA already
 * decides which mesh we talk to, and the agent is not told its trust domain
 * before it enrolls.
 */
import { isIP } from "node:net";
import type { PeerCertificate } from "node:tls";
import * as grpc from "@grpc/grpc-js";
import { MAX_MESSAGE_BYTES } from "../common/proto.js";

export const CONTROLLER_SPIFFE_PATH = "/meshfed/controller";

export function checkControllerIdentity(_host: string, cert: PeerCertificate): Error | undefined {
  for (const uri of uriSans(cert.subjectaltname ?? "")) {
    let url: URL;
    try {
      url = new URL(uri);
    } catch {
      continue;
    }
    if (url.protocol === "spiffe:" && url.host !== "" && url.pathname === CONTROLLER_SPIFFE_PATH) return undefined;
  }
  return new Error(`the server certificate has no URI SAN spiffe://<trust-domain>${CONTROLLER_SPIFFE_PATH}: not a meshfed controller`);
}

/** URI entries of Node's `subjectaltname` string (`DNS:a, URI:spiffe://x/y, URI:"quoted, one"`). */
export function uriSans(subjectAltName: string): string[] {
  const out: string[] = [];
  const re = /URI:("(?:[^"\\]|\\.)*"|[^,]*)/g;
  for (const m of subjectAltName.matchAll(re)) {
    const raw = m[1] ?? "";
    out.push(raw.startsWith('"') ? (JSON.parse(raw) as string) : raw.trim());
  }
  return out;
}

export function serverAuthCredentials(caPem: string): grpc.ChannelCredentials {
  return grpc.credentials.createSsl(Buffer.from(caPem), null, null, { checkServerIdentity: checkControllerIdentity });
}

export function mutualCredentials(caPem: string, keyPem: string, certPem: string): grpc.ChannelCredentials {
  return grpc.credentials.createSsl(Buffer.from(caPem), Buffer.from(keyPem), Buffer.from(certPem), { checkServerIdentity: checkControllerIdentity });
}

/**
 * Keepalive pings every 20 s, 10 s to answer (defaults; `keepalive` in the
 * agent config): a half-open connection (NAT timeout, pulled cable) is
 * noticed within time + timeout (~30 s) and the agent reconnects.
 * The controller must allow pings this often (grpc-js servers: no
 * `grpc.http2.min_ping_interval_without_data_ms` above the agent's time).
 */
export const CHANNEL_OPTIONS: grpc.ChannelOptions = {
  // (see channelOptions() for the per-address part)
  "grpc.keepalive_time_ms": 20_000,
  "grpc.keepalive_timeout_ms": 10_000,
  "grpc.keepalive_permit_without_calls": 1,
  "grpc.max_receive_message_length": MAX_MESSAGE_BYTES,
  "grpc.max_send_message_length": MAX_MESSAGE_BYTES,
  // Each attempt is ours to pace (full-jitter backoff); grpc's own reconnect
  // backoff would only add a second, unjittered layer.
  "grpc.initial_reconnect_backoff_ms": 1000,
  "grpc.max_reconnect_backoff_ms": 5000,
  "grpc.enable_retries": 0,
};

/**
 * Options for one controller address. For an IP address the TLS server name
 * (SNI) is set to a fixed name: SNI must not be an IP (RFC 6066; Node warns),
 * and the identity check above ignores host names anyway.
 */
export function channelOptions(address: string, keepalive?: KeepaliveOptions): grpc.ChannelOptions {
  const host = address.replace(/:\d+$/, "").replace(/^\[(.*)\]$/, "$1");
  const options = keepalive === undefined ? CHANNEL_OPTIONS : { ...CHANNEL_OPTIONS, "grpc.keepalive_time_ms": keepalive.time, "grpc.keepalive_timeout_ms": keepalive.timeout };
  return isIP(host) === 0 ? options : { ...options, "grpc.ssl_target_name_override": "meshfed-controller" };
}

/** Milliseconds, as the agent config holds them. */
export interface KeepaliveOptions {
  readonly time: number;
  readonly timeout: number;
}
