/**
 * A pre-flight TLS handshake to the controller, made only to explain a
 * failure grpc-js reported without detail (issue 16, item 3). grpc-js keeps
 * the socket's `authorizationError` to itself and reports a TLS alert from
 * the server as "Connection dropped"; a plain `tls.connect` with the same CA
 * bundle and client certificate sees both: OpenSSL's verification code for
 * the server's certificate, and the alert text when the server refuses ours.
 * Nothing is sent over the connection; it is closed after the handshake (or
 * after a short wait for the server's verdict on our certificate).
 */
import { connect, type TLSSocket } from "node:tls";
import { isIP } from "node:net";
import { checkControllerIdentity } from "./tls.js";

export type ProbeResult =
  /** TCP, DNS or timeout: the error's errno code (ECONNREFUSED, ENOTFOUND, ETIMEDOUT...). */
  | { readonly kind: "network"; readonly code: string; readonly message: string }
  /** Our pinned bundle does not verify the server's certificate: OpenSSL's code (SELF_SIGNED_CERT_IN_CHAIN, CERT_HAS_EXPIRED...). */
  | { readonly kind: "server-untrusted"; readonly code: string; readonly message: string }
  /** The server's certificate verifies but is not a meshfed controller's. */
  | { readonly kind: "not-controller"; readonly message: string }
  /** The server sent a TLS alert after seeing our certificate ("certificate expired", "unknown ca", "bad certificate"...). */
  | { readonly kind: "client-refused"; readonly alert: string; readonly message: string }
  /** The handshake passed both ways: whatever failed was not TLS. */
  | { readonly kind: "ok" };

export interface ProbeOptions {
  readonly address: string;
  readonly caPem: string;
  readonly keyPem?: string;
  readonly certPem?: string;
  readonly timeoutMs: number;
  /**
   * With TLS 1.3 the server checks our certificate after our side finished
   * the handshake: wait this long for an alert before calling it ok.
   */
  readonly verdictMs?: number;
}

const ALERT = /alert ([a-z ]+?)(?::|$)/i;

export function probeTls(o: ProbeOptions): Promise<ProbeResult> {
  const { host, port } = splitAddress(o.address);
  return new Promise((resolve) => {
    let settled = false;
    const holder: { socket?: TLSSocket } = {};
    const done = (result: ProbeResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      holder.socket?.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => done({ kind: "network", code: "ETIMEDOUT", message: `no TLS handshake with ${o.address} within ${o.timeoutMs} ms` }), o.timeoutMs);
    const socket = connect({
      host, port,
      ca: o.caPem,
      ...(o.keyPem !== undefined && o.certPem !== undefined ? { key: o.keyPem, cert: o.certPem } : {}),
      // Verified below, so that the verdict can be read instead of thrown.
      rejectUnauthorized: false,
      // The SPIFFE ID is checked below; host names are not part of the controller's identity (tls.ts).
      checkServerIdentity: () => undefined,
      ALPNProtocols: ["h2"],
      ...(isIP(host) === 0 ? { servername: host } : { servername: "meshfed-controller" }),
    });
    holder.socket = socket;
    let secured = false;
    socket.once("secureConnect", () => {
      secured = true;
      const s = socket;
      if (!s.authorized) {
        const err = s.authorizationError as (Error & { code?: string }) | string | null;
        const code = typeof err === "string" ? err : err?.code ?? "UNTRUSTED";
        done({ kind: "server-untrusted", code, message: typeof err === "string" ? err : err?.message ?? code });
        return;
      }
      const identity = checkControllerIdentity(host, s.getPeerCertificate());
      if (identity) {
        done({ kind: "not-controller", message: identity.message });
        return;
      }
      // The server's alert about our certificate (or its close) arrives on the next read:
      // keep reading (and discarding its HTTP/2 settings) so that it is seen.
      s.resume();
      setTimeout(() => done({ kind: "ok" }), o.verdictMs ?? 500).unref();
    });
    socket.once("error", (err: Error & { code?: string }) => {
      const alert = ALERT.exec(err.message);
      if (alert) done({ kind: "client-refused", alert: alert[1]!.trim().toLowerCase(), message: err.message });
      else if (err.code !== undefined && /^E[A-Z]+$/.test(err.code)) done({ kind: "network", code: err.code, message: err.message });
      else done({ kind: "client-refused", alert: "unknown", message: err.message });
    });
    // A server that closes without an alert after our certificate refused it without a reason.
    socket.once("close", () => done(secured
      ? { kind: "client-refused", alert: "connection closed", message: "the controller closed the TLS connection after the handshake" }
      : { kind: "network", code: "ECONNRESET", message: "the connection closed before the TLS handshake finished" }));
  });
}

function splitAddress(address: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(address);
  if (!m) return { host: address, port: 443 };
  return { host: m[1] ?? m[2]!, port: Number(m[3]) };
}
