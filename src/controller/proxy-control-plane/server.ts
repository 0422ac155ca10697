/**
 * The proxy control plane: DESIGN.md §3 flows 3–4. One gRPC server on one
 * TLS port: Enroll (server-authenticated TLS; the join token authenticates
 * the caller) and Connect (mTLS; the verified client certificate is the
 * caller's identity, never anything it says).
 */
import { randomUUID } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import type { Logger } from "pino";
import { formatHostPort, type HostPort } from "../../common/address.js";
import { systemClock, type Clock } from "../../common/clock.js";
import { errorCode, errorMessage, MeshfedError } from "../../common/errors.js";
import type { ControllerMetrics } from "../../common/metrics.js";
import { loadProto, MAX_MESSAGE_BYTES, type AgentMessage__Output, type AttestationNonceRequest__Output, type AttestationNonceResponse, type EnrollRequest__Output, type EnrollResponse } from "../../common/proto.js";
import { serviceKey, type ServiceRef } from "../../common/service.js";
import { toWireProbe, type HealthProbe } from "../../common/health-probe.js";
import type { CatalogChange } from "../catalog/types.js";
import type { MeshCatalog } from "../catalog/catalog.js";
import type { ProxyViewInput } from "../catalog/proxy-view.js";
import { identityKey } from "../catalog/spec-index.js";
import type { IdentityRef } from "../spec/types.js";
import { csrKeyFingerprint } from "../certificates/csr.js";
import type { CaChange, CertificateManager, CertificateRecord } from "../certificates/types.js";
import type { SidecarDriver } from "../drivers/types.js";
import type { AgentsProvider } from "../providers/agents/provider.js";
import type { AzureImdsAttestation } from "../bootstrap/azure-imds.js";
import { attestationNonce, enrollAttested } from "./attested-enroll.js";
import { acceptingEncodedMessages } from "./config-message.js";
import { buildMeshNames } from "./mesh-names.js";
import { authenticateProxyPeer } from "./peer-auth.js";
import { validateHello, validCaptureStatus } from "./hello.js";
import { validEndpointHealth } from "./endpoint-health.js";
import type { ConsumedToken, JoinTokens } from "./join-tokens.js";
import { PeerRateLimit } from "./peer-rate-limit.js";
import { ProxyRenewal } from "./proxy-renewal.js";
import { ServingIdentity } from "./serving-identity.js";
import { ProxySession, type ProxyStream } from "./session.js";
import { ProxySessions } from "./sessions.js";
import { RenderMemo } from "./render-memo.js";
import { statusError } from "./status.js";
import { DEFAULT_MASS_DISCONNECT, Withdrawals, type MassDisconnectSettings } from "./withdrawals.js";

export interface ProxyControlPlaneOptions {
  readonly listen: HostPort;
  /** Shared with the catalog, which reads it as its ConnectedProxySource. */
  readonly sessions: ProxySessions;
  readonly certificates: CertificateManager;
  readonly tokens: JoinTokens;
  readonly catalog: Pick<MeshCatalog, "on" | "proxyView" | "proxyDependencies" | "endpointClaims" | "explainProxyView" | "proxyIdentity">;
  readonly driver: SidecarDriver;
  readonly agents: AgentsProvider;
  readonly logger: Logger;
  readonly metrics?: ControllerMetrics;
  /** A stream that sends no Hello within this time is closed. */
  readonly helloTimeoutMs?: number;
  /** HTTP/2 keepalive ping interval; a peer that misses a ping for keepaliveTimeoutMs is dropped. */
  readonly keepaliveMs?: number;
  readonly keepaliveTimeoutMs?: number;
  readonly maxConcurrentStreams?: number;
  readonly limits?: ProxyControlPlaneLimits;
  /** Wall clock the certificate manager also uses; renewal timers count down to its renewAt. */
  readonly clock?: Clock;
  /** The mesh's trust domain: mesh names are `<svc>.<ns>.svc.<trustDomain>` (mesh-names.ts). Default cluster.local. */
  readonly trustDomain?: string;
  /** Enrollment by the Azure IMDS attested document (attested-enroll.ts); absent: refused as MESHFED_ATTEST_DISABLED. */
  readonly attestation?: AzureImdsAttestation;
  /** Health probes the hosts file declares per service and host (docs/agent.md, "Health probes"); absent: none. */
  readonly declaredProbes?: DeclaredProbeSource;
  /**
   * How long a proxy's announced endpoints outlive its stream (`grpc.reconnectGrace`,
   * default 10 s; 0: withdrawn when the stream ends). A proxy that reconnects
   * within it changes nothing in the catalog (see #disconnected).
   */
  readonly reconnectGraceMs?: number;
  /** When many proxies are away at once, their withdrawals wait for the reconnects to stall (withdrawals.ts); `grpc.massDisconnect`. */
  readonly massDisconnect?: MassDisconnectSettings;
}

export const DEFAULT_RECONNECT_GRACE_MS = 10_000;

/** Where the controller's probe declarations come from (the on-prem provider's hosts file). */
export interface DeclaredProbeSource {
  probes(service: ServiceRef, addresses: readonly string[]): readonly HealthProbe[];
  onChange(fn: (changed: readonly string[]) => void): () => void;
}

/** What one controller accepts from agents; `limits` in the controller config. */
export interface ProxyControlPlaneLimits {
  /** Connect streams open at once, counting those still waiting for their Hello. */
  readonly maxStreams: number;
  /** Enroll calls per second per peer address, after a burst of `enrollBurst`. */
  readonly enrollPerSecond: number;
  readonly enrollBurst: number;
}

export const DEFAULT_LIMITS: ProxyControlPlaneLimits = { maxStreams: 10_000, enrollPerSecond: 10, enrollBurst: 50 };

export const LIMIT_ERRORS = {
  enrollRateLimited: "MESHFED_ENROLL_RATE_LIMITED",
  tooManyStreams: "MESHFED_TOO_MANY_STREAMS",
} as const;

/** Proxies rendered between two yields to the event loop during a fan-out. */
const PUSH_SLICE = 32;

export interface ProxyConfigReport {
  readonly proxyId: string;
  readonly service: string;
  readonly connected: boolean;
  readonly driver: string;
  readonly hash: string;
  /** The version under which this content was sent, when the proxy holds it. */
  readonly sentVersion: number | null;
  readonly files: ReadonlyArray<{ readonly path: string; readonly content: string }>;
  readonly explain?: ReadonlyArray<{ readonly part: string; readonly from: readonly string[] }>;
  /** The identity (ServiceAccount `namespace/name`) the proxy speaks for. */
  readonly identity: string;
}

/** The revocation reason of a certificate a retried enrollment replaced; it alone leaves the retry open. */
export const SUPERSEDED_BY_RETRY = "superseded by a retried enrollment of the same key";


export class ProxyControlPlane {
  readonly sessions: ProxySessions;
  readonly #o: ProxyControlPlaneOptions;
  readonly #log: Logger;
  readonly #server: grpc.Server;
  readonly #stop = new AbortController();
  /** One per identity (`namespace/account`) whose certificate connected proxies hold. */
  readonly #renewalTimers = new Map<string, NodeJS.Timeout>();
  readonly #unsubscribe: Array<() => void> = [];
  readonly #limits: ProxyControlPlaneLimits;
  readonly #enrollLimit: PeerRateLimit;
  readonly #renewal: ProxyRenewal;
  #identity: ServingIdentity | undefined;
  /** Connect calls from their first byte to their end, including ones not yet past Hello. */
  #openStreams = 0;
  /** What each proxy's view last rendered to while the catalog did not change (render-memo.ts). */
  readonly #rendered = new RenderMemo();
  /** When disconnected proxies' endpoints are withdrawn: the reconnect grace, held during a mass disconnect. */
  readonly #withdrawals: Withdrawals;
  #port = 0;

  private constructor(options: ProxyControlPlaneOptions) {
    this.#o = options;
    this.sessions = options.sessions;
    this.#log = options.logger.child({ component: "proxy-control-plane" });
    this.#limits = options.limits ?? DEFAULT_LIMITS;
    this.#enrollLimit = new PeerRateLimit({ ratePerSecond: this.#limits.enrollPerSecond, burst: this.#limits.enrollBurst });
    this.#renewal = new ProxyRenewal(options.certificates, this.#log);
    this.#withdrawals = new Withdrawals({
      graceMs: options.reconnectGraceMs ?? DEFAULT_RECONNECT_GRACE_MS, mass: options.massDisconnect ?? DEFAULT_MASS_DISCONNECT,
      connected: () => this.sessions.size, withdraw: (proxyId) => this.#withdraw(proxyId), log: this.#log,
      onHeld: (count) => this.#o.metrics?.proxiesWithdrawalHeld.set(count),
    });
    const keepalive = options.keepaliveMs ?? 20_000;
    this.#server = new grpc.Server({
      "grpc.max_receive_message_length": MAX_MESSAGE_BYTES,
      "grpc.max_send_message_length": MAX_MESSAGE_BYTES,
      "grpc.keepalive_time_ms": keepalive,
      "grpc.keepalive_timeout_ms": options.keepaliveTimeoutMs ?? 10_000,
      // Agents ping too; allow it as often as our own interval, no more.
      "grpc.http2.min_ping_interval_without_data_ms": Math.min(keepalive, 10_000),
      "grpc.keepalive_permit_without_calls": 1,
      "grpc.max_concurrent_streams": options.maxConcurrentStreams ?? 100_000,
      // Channelz keeps a tracker and trace per connection for an introspection service we never expose: memory per agent for nothing.
      "grpc.enable_channelz": 0,
    });
    const { meshfed } = loadProto();
    this.#server.addService(acceptingEncodedMessages(meshfed.v1.ProxyControlPlane.service), {
      Enroll: (call: grpc.ServerUnaryCall<EnrollRequest__Output, EnrollResponse>, callback: grpc.sendUnaryData<EnrollResponse>) =>
        void this.#enroll(call, callback),
      Connect: (call: ProxyStream) => void this.#connect(call),
      AttestationNonce: (call: grpc.ServerUnaryCall<AttestationNonceRequest__Output, AttestationNonceResponse>, callback: grpc.sendUnaryData<AttestationNonceResponse>) => {
        // The same bucket as Enroll: each nonce is a store write for an unauthenticated caller.
        if (this.#rateLimited(call.getPeer(), callback)) return;
        void attestationNonce(this.#attestedDeps(), call, callback);
      },
    });
  }

  static async start(options: ProxyControlPlaneOptions): Promise<ProxyControlPlane> {
    const plane = new ProxyControlPlane(options);
    const identity = new ServingIdentity(options.certificates, plane.#log, options.clock);
    await identity.start(plane.#stop.signal);
    plane.#identity = identity;
    const credentials = grpc.experimental.createCertificateProviderServerCredentials(identity, identity, false);
    plane.#port = await new Promise<number>((resolve, reject) => {
      const address = formatHostPort(options.listen);
      plane.#server.bindAsync(address, credentials, (err, port) =>
        err ? reject(new MeshfedError("MESHFED_GRPC_BIND", `cannot listen for agents on ${address}: ${err.message}`, { cause: err })) : resolve(port),
      );
    });
    plane.#unsubscribe.push(options.catalog.on("change", (change) => plane.#onCatalogChange(change)));
    const declared = options.declaredProbes;
    if (declared !== undefined) {
      plane.#unsubscribe.push(declared.onChange((keys) => {
        const changed = new Set(keys);
        for (const s of plane.sessions.all()) if (changed.has(serviceKey(s.identity.service))) plane.#pushProbes(s);
      }));
    }
    plane.#unsubscribe.push(options.certificates.on("change", (record) => plane.#onCertificateChange(record)));
    // The proxy reconnected to another replica within its grace: what this one kept of it is stale.
    plane.#unsubscribe.push(options.agents.onRemote((proxyId) => {
      if (plane.#withdrawals.has(proxyId)) plane.#withdrawals.now(proxyId);
    }));
    plane.#unsubscribe.push(options.certificates.onCaChange((change) => plane.#onCaChange(change)));
    plane.#log.info({ address: formatHostPort({ host: options.listen.host, port: plane.#port }) }, "agent gRPC endpoint listening");
    return plane;
  }

  get port(): number {
    return this.#port;
  }

  // ---- Enroll -----------------------------------------------------------

  /** Takes one from the peer's enrollment bucket; when empty, answers RESOURCE_EXHAUSTED and returns true. */
  #rateLimited(peer: string, callback: (err: Partial<grpc.StatusObject>) => void): boolean {
    const waitMs = this.#enrollLimit.take(peer);
    if (waitMs <= 0) return false;
    this.#o.metrics?.enrollments.inc({ result: LIMIT_ERRORS.enrollRateLimited });
    this.#log.warn({ peer, code: LIMIT_ERRORS.enrollRateLimited }, "enrollment rate limited");
    callback(statusError(grpc.status.RESOURCE_EXHAUSTED, LIMIT_ERRORS.enrollRateLimited,
      `more than ${this.#limits.enrollBurst} enrollments at ${this.#limits.enrollPerSecond}/s from this address; retry in ${Math.ceil(waitMs / 1000)} s`));
    return true;
  }

  #attestedDeps() {
    return { attestation: this.#o.attestation, certificates: this.#o.certificates, log: this.#log, metrics: this.#o.metrics };
  }

  async #enroll(call: grpc.ServerUnaryCall<EnrollRequest__Output, EnrollResponse>, callback: grpc.sendUnaryData<EnrollResponse>): Promise<void> {
    const peer = call.getPeer();
    const { tokens, certificates, metrics } = this.#o;
    // Before anything costly (token hashing, CSR signature checks, a store write).
    if (this.#rateLimited(peer, callback)) return;
    const req = call.request;
    if (req.azureAttested && req.token === "" && typeof req.csrPem === "string" && req.csrPem.length > 0) {
      await enrollAttested(this.#attestedDeps(), call, callback);
      return;
    }
    if (typeof req.token !== "string" || req.token.length === 0 || req.token.length > 256 || typeof req.csrPem !== "string" || req.csrPem.length === 0) {
      metrics?.enrollments.inc({ result: "MESHFED_ENROLL_INVALID" });
      callback(statusError(grpc.status.INVALID_ARGUMENT, "MESHFED_ENROLL_INVALID", "Enroll needs a join token and a PEM CSR"));
      return;
    }
    const keySha256 = csrKeyFingerprint(req.csrPem);
    let consumed: ConsumedToken;
    try {
      consumed = await tokens.consume(req.token, keySha256 === undefined ? undefined : { keySha256, proxyId: randomUUID() }, (id) => this.#retryOpen(id));
    } catch (err) {
      const code = errorCode(err);
      metrics?.enrollments.inc({ result: code });
      this.#log.warn({ peer, code }, "enrollment refused");
      callback(statusError(grpc.status.PERMISSION_DENIED, code, errorMessage(err)));
      return;
    }
    const proxyId = consumed.proxyId ?? randomUUID();
    try {
      const account = consumed.serviceAccount;
      const issued = await certificates.issueProxyCertificate(req.csrPem, { proxyId, kind: "agent", service: consumed.service, ...(account === undefined ? {} : { serviceAccount: account }) });
      if (consumed.retry) await this.#supersede(proxyId, issued.record.serial);
      metrics?.enrollments.inc({ result: "ok" });
      this.#log.info({ peer, proxyId, service: serviceKey(consumed.service), serial: issued.record.serial, token: consumed.id, retry: consumed.retry, hostname: req.hostname.slice(0, 253) }, consumed.retry ? "proxy enrolled again by the same key" : "proxy enrolled");
      callback(null, {
        proxyId,
        serviceNamespace: consumed.service.namespace,
        serviceName: consumed.service.name,
        certificatePem: issued.certificatePem,
        caBundlePem: issued.caBundlePem,
        notAfter: issued.record.notAfter,
        serviceAccount: account ?? consumed.service.name,
        probes: (consumed.probes ?? []).map(toWireProbe),
      });
    } catch (err) {
      const code = errorCode(err);
      // A malformed CSR is not the token's fault: give the use back (a retry spent none).
      if (code.startsWith("MESHFED_CSR_") && !consumed.retry) await tokens.refund(consumed.id, consumed.proxyId).catch(() => undefined);
      metrics?.enrollments.inc({ result: code });
      this.#log.warn({ peer, code, err }, "enrollment failed");
      const status = err instanceof MeshfedError ? grpc.status.INVALID_ARGUMENT : grpc.status.INTERNAL;
      callback(statusError(status, code, errorMessage(err)));
    }
  }

  /**
   * A retried enrollment replaces the certificates its earlier attempts got
   * and never used (the agent died before storing them): revoked, so the
   * proxy has one live certificate. A claimed one can only be here when a
   * Connect raced the retry (a retry is refused once one is claimed); it is
   * revoked too, so even that race never leaves two live certificates.
   */
  async #supersede(proxyId: string, current: string): Promise<void> {
    const { certificates } = this.#o;
    for (const r of certificates.certificates()) {
      if (r.kind !== "proxy" || r.proxyId !== proxyId || r.serial === current || (r.state !== "unclaimed" && r.state !== "claimed")) continue;
      await certificates.revoke(r.serial, SUPERSEDED_BY_RETRY);
    }
  }

  /**
   * Whether a same-key retry may still replace this proxy's certificate: only
   * while none of its certificates was ever claimed, and none was revoked
   * other than by an earlier retry (issue 16). The registry is shared by
   * replicas and kept across restarts, like the token records.
   */
  #retryOpen(proxyId: string): boolean {
    return !this.#o.certificates.certificates().some((r) =>
      r.kind === "proxy" && r.proxyId === proxyId &&
      (r.claimedAt !== undefined || r.state === "claimed" || (r.state === "revoked" && r.revocationReason !== SUPERSEDED_BY_RETRY)));
  }

  /** Persists the end of the proxy's retry in its token record; a failure leaves #retryOpen to refuse it. */
  async #closeRetry(proxyId: string, why: string): Promise<void> {
    try {
      if (await this.#o.tokens.closeRetry(proxyId)) this.#log.debug({ proxyId, why }, "same-key enrollment retry closed");
    } catch (err) {
      this.#log.warn({ err, code: errorCode(err), proxyId }, "could not record the end of the enrollment retry; the registry still refuses it");
    }
  }

  // ---- Connect ----------------------------------------------------------

  async #connect(call: ProxyStream): Promise<void> {
    const peer = call.getPeer();
    const reject = (status: grpc.status, code: string, message: string) => {
      this.#o.metrics?.streamRejections.inc({ code });
      this.#log.warn({ peer, code, reason: message }, "proxy stream refused");
      call.emit("error", statusError(status, code, message));
    };
    // Checked before the certificate: a flood of streams must cost as little as possible.
    if (this.#openStreams >= this.#limits.maxStreams) {
      reject(grpc.status.RESOURCE_EXHAUSTED, LIMIT_ERRORS.tooManyStreams, `this controller serves at most ${this.#limits.maxStreams} streams; retry later or on another replica`);
      return;
    }
    this.#countOpenStream(call);
    const auth = authenticateProxyPeer(call.getAuthContext().sslPeerCertificate, this.#o.certificates, "Connect");
    if (!auth.ok) {
      reject(auth.code === "MESHFED_CERT_REVOKED" ? grpc.status.PERMISSION_DENIED : grpc.status.UNAUTHENTICATED, auth.code, auth.message);
      return;
    }
    const { proxyId, service, record } = auth.peer;
    const session = new ProxySession({ proxyId, service, serial: record.serial, peer, ...(record.serviceAccount === undefined ? {} : { serviceAccount: record.serviceAccount }) }, call);

    const hello = await this.#firstMessage(call);
    if (!hello) {
      reject(grpc.status.DEADLINE_EXCEEDED, "MESHFED_HELLO_TIMEOUT", "no Hello received");
      return;
    }
    let valid;
    try {
      valid = validateHello(hello.hello, {
        proxyId,
        service: serviceKey(service),
        ownersOf: (ip, port) => this.#o.catalog.endpointClaims(ip, port).filter((c) => c.providers.some((p) => p !== this.#o.agents.id)).map((c) => c.service),
      });
      // Before the claim: once a Connect proved the agent holds its answer, no retry may replace it.
      if (record.state === "unclaimed") {
        await this.#closeRetry(proxyId, "claimed");
        await this.#o.certificates.claim(record.serial);
      }
      // A certificate already claimed (every reconnect) is not claimed again:
      // that was a read and parse of its stored record per connect, to write
      // nothing. Its revocation is still seen: authenticateProxyPeer read the
      // registry's state above, and a revocation that reaches this registry
      // later (another replica's, through the store's watch) closes the stream
      // in #onCertificateChange, as it does for any connected proxy.
    } catch (err) {
      reject(grpc.status.INVALID_ARGUMENT, errorCode(err), errorMessage(err));
      return;
    }
    session.addresses = valid.hostAddresses;
    session.endpoints = valid.endpoints;
    session.agentVersion = valid.agentVersion;
    session.proxyVersion = valid.proxyVersion;
    session.configVersion = valid.configVersion;
    session.configHash = valid.configHash;
    session.dns = valid.dns;
    // The Hello lists them newest first; the session's record keeps use order, oldest first (config-message.ts rememberSentFiles).
    if (valid.fileCache !== null) session.fileCache = new Set([...valid.fileCache].reverse());
    if (valid.capture !== null) session.capture = { ...valid.capture, at: new Date().toISOString() };

    const replaced = this.sessions.add(session);
    replaced?.shutdown("MESHFED_REPLACED", "a newer stream for this proxy connected", false);
    // Back within the grace: its announcement below replaces the one kept meanwhile.
    this.#withdrawals.reconnected(proxyId);
    this.#o.metrics?.proxiesConnected.set(this.sessions.size);
    // The account of the certificate is what these endpoints run as; without one they declare none.
    const account = session.identity.serviceAccount;
    this.#o.agents.announce(proxyId, service, account === undefined ? valid.endpoints : valid.endpoints.map((e) => ({ ...e, serviceAccount: account })));
    // In the same tick as the announcement: the catalog's next update sees both, so an unhealthy endpoint is never offered in between.
    this.#reportHealth(session, validEndpointHealth(hello.hello?.endpointHealth, valid.endpoints));
    this.#log.info({ peer, proxyId, service: serviceKey(service), endpoints: valid.endpoints.length, heldVersion: valid.configVersion }, "proxy connected");
    // After the session replaced any older one: the certificates this one renews are now unused.
    // `record` is the registry entry as it was before the claim.
    this.#o.certificates.supersedeRenewed(record).catch((err: unknown) => this.#log.error({ err, code: errorCode(err), proxyId }, "revoking the certificate a renewal replaced failed"));

    call.on("data", (msg: AgentMessage__Output) => this.#onAgentMessage(session, msg));
    const closed = () => this.#disconnected(session);
    call.on("end", closed);
    call.on("error", closed);
    call.on("cancelled", closed);
    call.on("close", closed);
    call.resume();

    session.sendCaBundle(this.#o.certificates.caBundle());
    await this.#sendServiceCertificate(session, this.#identityOf(session));
    this.#pushConfig(session);
    this.#pushProbes(session);
    this.#renewal.requestIfDue(session);
  }

  /** Counts the stream as open until any of the events that end a server call. */
  #countOpenStream(call: ProxyStream): void {
    this.#openStreams += 1;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.#openStreams -= 1;
    };
    // "finish": we ended it (status sent); "cancelled"/"close": the peer or the transport did.
    for (const event of ["finish", "cancelled", "close", "error"] as const) call.once(event, release);
  }

  /** Resolves with the first message, or undefined after the Hello timeout or an early end. */
  #firstMessage(call: ProxyStream): Promise<AgentMessage__Output | undefined> {
    return new Promise((resolve) => {
      const done = (msg: AgentMessage__Output | undefined) => {
        // Hold further messages until the session's own listeners are attached.
        call.pause();
        clearTimeout(timer);
        call.off("data", onData);
        call.off("end", onEnd);
        call.off("error", onEnd);
        resolve(msg);
      };
      const onData = (msg: AgentMessage__Output) => done(msg);
      const onEnd = () => done(undefined);
      const timer = setTimeout(() => done(undefined), this.#o.helloTimeoutMs ?? 10_000);
      call.on("data", onData);
      call.on("end", onEnd);
      call.on("error", onEnd);
    });
  }

  #onAgentMessage(session: ProxySession, msg: AgentMessage__Output): void {
    const now = new Date().toISOString();
    if (msg.message === "ack" && msg.ack) {
      const { version, hash, ok, error } = msg.ack;
      // ACKs for versions other than the last one sent are stale (reordered or
      // superseded): recorded in the log, never allowed to overwrite the state.
      if (version !== session.configVersion || hash !== session.configHash) {
        this.#log.debug({ proxyId: session.identity.proxyId, version, current: session.configVersion }, "stale config ack ignored");
        return;
      }
      const first = session.lastAck?.version !== version || session.lastAck.hash !== hash;
      session.lastAck = { version, hash, ok, error: error.slice(0, 4096), at: now };
      this.#o.metrics?.configAcks.inc({ result: ok ? "ack" : "nack" });
      // The first answer to a version sent on this stream (not a repeat, not one held from before Hello).
      if (first && session.configSentAt > 0) this.#o.metrics?.configAckSeconds.observe({ result: ok ? "ack" : "nack" }, (performance.now() - session.configSentAt) / 1000);
      if (!ok) this.#log.warn({ proxyId: session.identity.proxyId, version, error: session.lastAck.error }, "proxy refused config (NACK)");
    } else if (msg.message === "health" && msg.health) {
      session.health = { proxyState: msg.health.proxyState.slice(0, 64), runningVersion: msg.health.runningVersion, detail: msg.health.detail.slice(0, 1024), at: now };
      // The mode is fixed for a stream (it shapes the rendered config); only the rule state follows Health.
      const capture = validCaptureStatus(msg.health.capture);
      if (capture !== null && session.capture !== null) session.capture = { ...capture, mode: session.capture.mode, at: now };
      this.#reportHealth(session, validEndpointHealth(msg.health.endpointHealth, session.endpoints));
    } else if (msg.message === "proxyCsr" && msg.proxyCsr) {
      void this.#renewal.onCsr(session, msg.proxyCsr.csrPem);
    } else if (msg.message === "goodbye") {
      // A planned stop: the agent is about to stop Pipy, so its endpoints leave its callers' configs now,
      // not after the reconnect grace. Only this stream's session: a Goodbye on a stream a newer one
      // replaced withdraws nothing (#disconnected ignores a session that is no longer current).
      this.#log.info({ proxyId: session.identity.proxyId, reason: (msg.goodbye?.reason ?? "").slice(0, 256) }, "proxy said goodbye: its endpoints are withdrawn now");
      this.#disconnected(session, true);
    } else if (msg.message === "hello") {
      this.#log.warn({ proxyId: session.identity.proxyId }, "second Hello on one stream ignored");
    }
  }

  #pushProbes(session: ProxySession): void {
    const declared = this.#o.declaredProbes;
    if (declared === undefined) return;
    if (session.pushHealthProbes(declared.probes(session.identity.service, session.addresses))) {
      this.#log.debug({ proxyId: session.identity.proxyId }, "hosts-file health probes sent");
    }
  }

  /** Logs each endpoint's change of state once, here where it is heard, then hands the report to the agents provider. */
  #reportHealth(session: ProxySession, health: ReturnType<typeof validEndpointHealth>): void {
    const before = new Map(session.endpointHealth.map((h) => [`${h.ip}|${h.port}`, h.state]));
    for (const h of health) {
      const was = before.get(`${h.ip}|${h.port}`) ?? "unknown";
      if (was === h.state) continue;
      const fields = { proxyId: session.identity.proxyId, service: serviceKey(session.identity.service), endpoint: `${h.ip}:${h.port}`, from: was, to: h.state, reason: h.reason };
      if (h.state === "unhealthy") this.#log.warn({ ...fields, code: "MESHFED_ENDPOINT_UNHEALTHY" }, "endpoint unhealthy: withdrawn from its callers");
      else this.#log.info(fields, "endpoint health changed");
    }
    session.endpointHealth = health;
    this.#o.agents.reportHealth(session.identity.proxyId, health);
  }

  /**
   * The stream ended. The proxy leaves the connected set now; its announced
   * endpoints stay for the reconnect grace. A stream end says the path to the
   * controller broke, not that the proxy or its app stopped: the agent keeps
   * Pipy serving on its last config meanwhile. Withdrawing at once made every
   * reconnect storm (a network blip, a load balancer reset) two catalog
   * changes per agent, each re-rendering every caller of its service: at
   * 1,000 agents most of the storm's CPU. A revoked certificate, a
   * stopping controller and an agent's Goodbye withdraw at once (`now`).
   */
  #disconnected(session: ProxySession, now = false): void {
    session.end();
    if (!this.sessions.remove(session)) return;
    this.#o.metrics?.proxiesConnected.set(this.sessions.size);
    this.#withdrawLater(session.identity.proxyId, now);
    const identity = session.certificateIdentity;
    if (identity !== "" && this.sessions.holding(identity).length === 0) {
      clearTimeout(this.#renewalTimers.get(identity));
      this.#renewalTimers.delete(identity);
    }
    this.#log.info({ proxyId: session.identity.proxyId }, "proxy disconnected");
  }

  #withdrawLater(proxyId: string, now: boolean): void {
    if (now || this.#stop.signal.aborted) this.#withdrawals.now(proxyId);
    else this.#withdrawals.later(proxyId);
  }

  #withdraw(proxyId: string): void {
    // Reconnected meanwhile (its Connect cancels the grace; checked again in case a stream is current).
    if (this.sessions.get(proxyId) !== undefined) return;
    this.#rendered.delete(proxyId);
    this.#o.agents.withdraw(proxyId);
  }

  // ---- pushes -----------------------------------------------------------

  #viewInput(session: ProxySession): ProxyViewInput {
    const { proxyId, service, serviceAccount } = session.identity;
    return { proxyId, service, addresses: session.addresses, ...(serviceAccount === undefined ? {} : { serviceAccount }), ...captureInput(session) };
  }

  #identityOf(session: ProxySession): IdentityRef {
    return this.#o.catalog.proxyIdentity(this.#viewInput(session)).identity;
  }

  #pushConfig(session: ProxySession): void {
    const { catalog, driver, metrics } = this.#o;
    const input = this.#viewInput(session);
    const identity = catalog.proxyIdentity(input).identity;
    if (session.certificateIdentity !== "" && session.certificateIdentity !== identityKey(identity)) {
      // Its account changed (a declaration in another provider): the
      // certificate for the new account goes first, so the config that names
      // it never arrives before the certificate that proves it.
      void this.#sendServiceCertificate(session, identity).then(() => {
        if (!session.ended) this.#pushConfig(session);
      });
      return;
    }
    // The agent already holds what its view rendered to, and nothing it depends on changed since: no view, no render.
    const memo = this.#rendered.get(input);
    if (memo !== undefined && memo.hash === session.configHash && !session.wantsMeshNames) {
      this.sessions.setDependencies(session, memo.dependencies);
      return;
    }
    const dependencies = catalog.proxyDependencies(input, identity);
    this.sessions.setDependencies(session, dependencies);
    const view = catalog.proxyView(input, identity);
    const config = driver.render(view);
    this.#rendered.set(input, { hash: config.hash, dependencies });
    const version = session.pushConfig(config);
    if (version !== undefined) {
      metrics?.configPushes.inc({ driver: config.driver });
      this.#log.debug({ proxyId: session.identity.proxyId, version, hash: config.hash }, "config pushed");
    }
    // After the config: the names point at VIPs the new config already routes.
    if (session.wantsMeshNames && session.pushMeshNames(buildMeshNames(view, this.#o.trustDomain ?? "cluster.local"))) {
      this.#log.debug({ proxyId: session.identity.proxyId, names: session.dns?.names }, "mesh names pushed");
    }
  }

  #onCatalogChange(change: CatalogChange): void {
    this.#rendered.invalidate([...change.services, ...(change.identities ?? [])], change.spec);
    const affected = change.spec ? this.sessions.all() : [...this.sessions.affectedBy([...change.services, ...(change.identities ?? [])])];
    void this.#pushInChunks(affected);
  }

  /**
   * Renders and sends in slices, yielding to the event loop between them, so
   * that after a mesh-wide change the first proxies get their config while
   * the rest are still rendering, and streams, ACKs and the admin API are
   * served meanwhile. A newer change that arrives during the loop simply
   * renders again; unchanged hashes are not resent.
   */
  async #pushInChunks(sessions: readonly ProxySession[]): Promise<void> {
    for (let i = 0; i < sessions.length; i += PUSH_SLICE) {
      if (i > 0) await new Promise<void>((resolve) => setImmediate(resolve));
      if (this.#stop.signal.aborted) return;
      for (const session of sessions.slice(i, i + PUSH_SLICE)) if (!session.ended) this.#pushConfig(session);
    }
  }

  /** The service certificate of the proxy's identity (one per account, shared by every proxy running as it). */
  async #sendServiceCertificate(session: ProxySession, identity: IdentityRef): Promise<void> {
    const key = identityKey(identity);
    try {
      const cert = await this.#o.certificates.serviceCertificate({ namespace: identity.namespace, name: identity.name });
      this.sessions.setCertificateIdentity(session, key);
      if (session.pushServiceCertificate(cert)) this.#o.metrics?.serviceCertificatePushes.inc();
      this.#scheduleRenewal(key, cert.renewAt);
    } catch (err) {
      this.#log.error({ err, code: errorCode(err), service: serviceKey(session.identity.service), identity: key }, "could not obtain the service certificate");
    }
  }

  /** One timer per identity with connected proxies: at renewAt, fetch the new certificate and push it to all of them. */
  #scheduleRenewal(key: string, renewAt: Date): void {
    if (this.#renewalTimers.has(key) || this.#stop.signal.aborted) return;
    const delay = Math.min(Math.max(renewAt.getTime() - (this.#o.clock ?? systemClock).now().getTime(), 1000), 2 ** 31 - 1);
    const timer = setTimeout(() => {
      this.#renewalTimers.delete(key);
      const sessions = this.sessions.holding(key);
      if (sessions.length === 0) return;
      void Promise.all(sessions.map((s) => this.#sendServiceCertificate(s, this.#identityOf(s)))).then(() =>
        this.#log.info({ identity: key, proxies: sessions.length }, "service certificate renewed and pushed"),
      );
    }, delay);
    timer.unref();
    this.#renewalTimers.set(key, timer);
  }

  /**
   * A CA rotation step (here or on another replica): the agent port and every
   * proxy trust the new bundle; once the new root signs, the serving
   * certificate and the service certificates are replaced and agents are
   * asked to renew their proxy certificates.
   */
  #onCaChange(change: CaChange): void {
    this.#identity?.reload();
    const sessions = this.sessions.all();
    for (const s of sessions) s.sendCaBundle(change.bundlePem);
    if (change.signerChanged) void Promise.all(sessions.map((s) => this.#sendServiceCertificate(s, this.#identityOf(s))));
    for (const s of sessions) this.#renewal.requestIfDue(s);
    this.#log.info({ phase: change.phase, proxies: sessions.length, signerChanged: change.signerChanged }, "root CAs changed: bundle pushed to connected proxies");
  }

  #onCertificateChange(record: CertificateRecord): void {
    if (record.kind !== "proxy" || record.state !== "revoked") return;
    if (record.proxyId !== undefined && record.revocationReason !== SUPERSEDED_BY_RETRY) void this.#closeRetry(record.proxyId, "revoked");
    const session = this.sessions.bySerial(record.serial);
    if (!session) {
      // Disconnected and within its grace: a revoked proxy's endpoints go now, not when the grace ends.
      // (Only when no other certificate of the proxy holds a stream: then `session` would be that one's, or absent.)
      if (record.proxyId !== undefined && this.#withdrawals.has(record.proxyId) && this.sessions.get(record.proxyId) === undefined) this.#withdrawals.now(record.proxyId);
      return;
    }
    this.#log.warn({ proxyId: session.identity.proxyId, serial: record.serial }, "certificate revoked: closing the proxy's stream");
    this.#o.metrics?.streamRejections.inc({ code: "MESHFED_CERT_REVOKED" });
    session.shutdown("MESHFED_CERT_REVOKED", `certificate ${record.serial} was revoked (${record.revocationReason ?? "no reason"})`, true);
    this.#disconnected(session, true);
  }

  // ---- inspection -------------------------------------------------------

  /**
   * The exact files a proxy receives now (`meshfed proxy config`), rendered
   * the way a push would render them, and optionally where each part of its
   * view comes from. Works for connected proxies and for issued proxy
   * certificates not connected yet (then without host addresses).
   */
  proxyConfig(proxyId: string, explain: boolean): ProxyConfigReport {
    const session = this.sessions.get(proxyId);
    let input: ProxyViewInput;
    if (session) {
      input = this.#viewInput(session);
    } else {
      const record = this.#o.certificates.certificates().find((c) => c.kind === "proxy" && c.proxyId === proxyId && (c.state === "claimed" || c.state === "unclaimed"));
      if (!record) throw new MeshfedError("MESHFED_PROXY_UNKNOWN", `no connected proxy and no live proxy certificate with id ${proxyId}`);
      const [namespace, name] = record.service.split("/") as [string, string];
      input = { proxyId, service: { namespace, name }, addresses: [], ...(record.serviceAccount === undefined ? {} : { serviceAccount: record.serviceAccount }) };
    }
    const service = input.service;
    const config = this.#o.driver.render(this.#o.catalog.proxyView(input));
    return {
      proxyId,
      service: serviceKey(service),
      identity: identityKey(this.#o.catalog.proxyIdentity(input).identity),
      connected: session !== undefined,
      driver: config.driver,
      hash: config.hash,
      sentVersion: session && session.configHash === config.hash ? session.configVersion : null,
      files: config.files.map((f) => ({ path: f.path, content: Buffer.from(f.content).toString("utf8") })),
      ...(explain ? { explain: this.#o.catalog.explainProxyView(input) } : {}),
    };
  }

  // ---- lifecycle --------------------------------------------------------

  /** Tells every agent the controller is stopping (they reconnect with backoff), then stops. */
  async close(graceMs = 5_000): Promise<void> {
    if (this.#stop.signal.aborted) return;
    this.#stop.abort();
    for (const off of this.#unsubscribe) off();
    for (const t of this.#renewalTimers.values()) clearTimeout(t);
    this.#renewalTimers.clear();
    for (const s of this.sessions.all()) s.shutdown("MESHFED_CONTROLLER_STOPPING", "the controller is shutting down", false);
    // The controller stops: nothing will reconnect here.
    this.#withdrawals.flush();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.#server.forceShutdown();
        resolve();
      }, graceMs);
      timer.unref();
      this.#server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  destroy(): void {
    this.#stop.abort();
    for (const off of this.#unsubscribe) off();
    for (const t of this.#renewalTimers.values()) clearTimeout(t);
    this.#withdrawals.clear();
    this.#server.forceShutdown();
  }
}

/** The capture mode a session's agent announced, for its proxy view; nothing for "none" (the view's default). */
function captureInput(session: ProxySession): { capture?: "transparent" } {
  return session.capture?.mode === "transparent" ? { capture: "transparent" } : {};
}
