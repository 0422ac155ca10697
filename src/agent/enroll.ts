/**
 * Enroll (DESIGN.md §3 flow 3): join token + CSR over server-authenticated
 * TLS pinned to the installed CA bundle → the proxy certificate. The answer
 * is validated before it is stored: the certificate must carry OUR public
 * key (a controller bug or a swapped answer would otherwise leave an agent
 * whose key and certificate do not match), the service must be a valid name
 * and, when the agent was configured with one, the expected service.
 */
import { fromWireProbes, type HealthProbe } from "../common/health-probe.js";
import { errorMessage } from "../common/errors.js";
import { loadProto, type EnrollResponse__Output } from "../common/proto.js";
import { isDnsLabel, serviceKey, type ServiceRef } from "../common/service.js";
import { PermanentRefusal, classifyRpcError } from "./grpc-errors.js";
import { channelOptions, serverAuthCredentials, type KeepaliveOptions } from "./tls.js";
import type { X509Certificate } from "node:crypto";
import { certificateHasKey, crypto, notAfterOf, parseCertificate, type CryptoKeyPair } from "./x509.js";

export interface EnrollRequestOptions {
  readonly address: string;
  readonly caPem: string;
  /** A join token, or "" with `azureAttested`. */
  readonly token: string;
  /** Instead of a token: the IMDS attested document over a nonce from AttestationNonce. */
  readonly azureAttested?: { readonly nonce: string; readonly encoding: string; readonly signature: string };
  readonly csrPem: string;
  readonly agentVersion: string;
  readonly hostname: string;
  readonly timeoutMs: number;
  readonly signal: AbortSignal;
  readonly keepalive?: KeepaliveOptions;
}

export interface EnrollResult {
  readonly proxyId: string;
  readonly service: ServiceRef;
  readonly certificatePem: string;
  readonly caBundlePem: string;
  readonly notAfter: string;
  /** The token's health probes; a bad one is dropped (and named in `rejectedProbes`), never fatal. */
  readonly probes: readonly HealthProbe[];
  readonly rejectedProbes: readonly string[];
}

/** Resolves with the response; rejects with PermanentRefusal or a transient error. */
export function callEnroll(o: EnrollRequestOptions): Promise<EnrollResponse__Output> {
  const proto = loadProto();
  const client = new proto.meshfed.v1.ProxyControlPlane(o.address, serverAuthCredentials(o.caPem), channelOptions(o.address, o.keepalive));
  return new Promise<EnrollResponse__Output>((resolve, reject) => {
    const call = client.Enroll(
      { token: o.token, csrPem: o.csrPem, agentVersion: o.agentVersion, hostname: o.hostname, ...(o.azureAttested ? { azureAttested: o.azureAttested } : {}) },
      { deadline: Date.now() + o.timeoutMs },
      (err, res) => {
        o.signal.removeEventListener("abort", onAbort);
        if (err) {
          const f = classifyRpcError(err);
          reject(f.permanent ? new PermanentRefusal(f.code, f.details, { cause: err }) : err);
        } else if (res === undefined) {
          reject(new Error("Enroll returned no response"));
        } else {
          resolve(res);
        }
      },
    );
    const onAbort = (): void => call.cancel();
    o.signal.addEventListener("abort", onAbort, { once: true });
  }).finally(() => client.close());
}

/** A nonce for an attestation (AttestationNonce); rejects like callEnroll. */
export function callAttestationNonce(o: Pick<EnrollRequestOptions, "address" | "caPem" | "timeoutMs" | "signal" | "keepalive">): Promise<{ nonce: string; expiresAt: string }> {
  const proto = loadProto();
  const client = new proto.meshfed.v1.ProxyControlPlane(o.address, serverAuthCredentials(o.caPem), channelOptions(o.address, o.keepalive));
  return new Promise<{ nonce: string; expiresAt: string }>((resolve, reject) => {
    const call = client.AttestationNonce({ method: "azure-imds" }, { deadline: Date.now() + o.timeoutMs }, (err, res) => {
      o.signal.removeEventListener("abort", onAbort);
      if (err) {
        const f = classifyRpcError(err);
        reject(f.permanent ? new PermanentRefusal(f.code, f.details, { cause: err }) : err);
      } else if (res === undefined || !/^[A-Za-z0-9]{1,32}$/.test(res.nonce)) {
        reject(new PermanentRefusal("MESHFED_AGENT_ENROLL_RESPONSE_INVALID", "AttestationNonce returned no usable nonce"));
      } else {
        resolve({ nonce: res.nonce, expiresAt: res.expiresAt });
      }
    });
    const onAbort = (): void => call.cancel();
    o.signal.addEventListener("abort", onAbort, { once: true });
  }).finally(() => client.close());
}

export async function checkEnrollResponse(res: EnrollResponse__Output, keys: CryptoKeyPair, expected: ServiceRef | undefined): Promise<EnrollResult> {
  const bad = (msg: string): never => {
    throw new PermanentRefusal("MESHFED_AGENT_ENROLL_RESPONSE_INVALID", msg);
  };
  if (!/^[A-Za-z0-9-]{1,64}$/.test(res.proxyId)) bad(`proxy id "${res.proxyId}" is not a UUID`);
  if (!isDnsLabel(res.serviceNamespace) || !isDnsLabel(res.serviceName)) bad(`service "${res.serviceNamespace}/${res.serviceName}" is not namespace/name`);
  const service = { namespace: res.serviceNamespace, name: res.serviceName };
  if (expected !== undefined && serviceKey(expected) !== serviceKey(service)) {
    throw new PermanentRefusal("MESHFED_AGENT_SERVICE_MISMATCH", `the token enrolls this proxy for ${serviceKey(service)}, but the agent is configured for ${serviceKey(expected)}`);
  }
  let cert: X509Certificate;
  try {
    cert = parseCertificate(res.certificatePem);
  } catch (err) {
    return bad(`the proxy certificate is not PEM X.509: ${errorMessage(err)}`);
  }
  const ours = new Uint8Array(await crypto.subtle.exportKey("spki", keys.publicKey));
  if (!certificateHasKey(cert, ours)) bad("the proxy certificate does not carry this agent's public key");
  const { probes, rejected } = fromWireProbes(res.probes ?? []);
  return { proxyId: res.proxyId, service, certificatePem: res.certificatePem, caBundlePem: res.caBundlePem, notAfter: res.notAfter || notAfterOf(cert), probes, rejectedProbes: rejected };
}
