/**
 * The composition of the agent: data directory, local repo, Pipy supervisor,
 * config applier and the enroll/connect loop, each given exactly what it
 * needs and one stop signal.
 *
 * Start-up order matters (issue 3, agent side 5): the last good state is
 * loaded from disk and served — and Pipy started on it — BEFORE the
 * controller is contacted, so a controller outage, or an agent restart during
 * one, never takes the proxy down.
 */
import { readFile } from "node:fs/promises";
import { hostname } from "node:os";
import { formatHostPort, parseHostPort } from "../common/address.js";
import { splitProtocolSuffix } from "../common/declared-protocol.js";
import { systemClock, type Clock } from "../common/clock.js";
import { Listeners } from "../common/emitter.js";
import { errorCode, errorMessage, MeshfedError } from "../common/errors.js";
import { Closer, StartSequence } from "../common/lifecycle.js";
import type { Logger } from "../common/logger.js";
import { loadProto } from "../common/proto.js";
import { parseServiceKey, serviceKey, type ServiceRef } from "../common/service.js";
import type { Health } from "../generated/proto/meshfed/v1/Health.js";
import type { CaptureStatus as CaptureStatusMessage } from "../generated/proto/meshfed/v1/CaptureStatus.js";
import { mergeProbes, type HealthProbe } from "../common/health-probe.js";
import { Backoff, sleep } from "./backoff.js";
import { ProbeMetrics } from "./health/metrics.js";
import { checkMetricsAddress, scrapeFiles } from "./scrape-file.js";
import { Prober, type ProberOptions } from "./health/prober.js";
import { CAPTURE_NONE, captureFromConfig, type CaptureSetup, type CaptureStatus } from "./capture/index.js";
import { ConfigApplier } from "./config-applier.js";
import type { ConfigFileData } from "./config-version.js";
import type { AgentConfig } from "./config.js";
import { DataDir, type ServiceCertificateData } from "./data-dir.js";
import { MeshDns } from "./dns/mesh-dns.js";
import { nameTableSchema } from "./dns/name-table.js";
import { DEFAULT_RESOLVER_PATHS, ResolverHook, type ResolverPaths } from "./dns/resolver-hook.js";
import type { DnsStatus } from "../generated/proto/meshfed/v1/DnsStatus.js";
import { callEnroll, checkEnrollResponse } from "./enroll.js";
import { attestAzure, attestationFailure } from "./attest.js";
import { classifyRpcError, PermanentRefusal, type RpcFailure } from "./grpc-errors.js";
import { agentVersion, defaultHostAddresses } from "./host.js";
import { buildCsr, generateProxyKey, importProxyKey } from "./proxy-key.js";
import { PipyRunTracker } from "./repo/pipy-run.js";
import { LocalRepo } from "./repo/server.js";
import { caMismatchOf, type CaMismatch } from "./ca-mismatch.js";
import { certificateValidity, type CertificateValidity } from "./certificate-status.js";
import { classifyConnectFailure, type ConnectFailure } from "./connect-failure.js";
import { probeTls } from "./tls-probe.js";
import { AgentStateMachine, type AgentState, type StateChange } from "./state-machine.js";
import { FileCache } from "./file-cache.js";
import { runStreamSession, type ProxyCertificateAnswer, type SessionEnd } from "./stream.js";
import { ProxyPidFile } from "./stale-proxy.js";
import { PipySupervisor, proxyVersion } from "./supervisor.js";
import { channelOptions, mutualCredentials } from "./tls.js";
import { certificateHasKey, certificateNotAfter, crypto, isCertificateBundle, parseCertificate, type CryptoKeyPair } from "./x509.js";

/** Exit status for refusals retrying cannot fix; the systemd unit does not restart on it. */
export const EXIT_PERMANENT = 78; // EX_CONFIG

export interface AgentExit {
  /** 0: stopped on request; EXIT_PERMANENT: refused for good; 1: failed. */
  readonly exitCode: number;
  readonly code?: string;
  readonly message?: string;
}

export interface RunningAgent {
  readonly state: AgentState;
  readonly proxyId: string | undefined;
  /** What Pipy is pointed at: http://<repo-address>/repo/ */
  readonly repoUrl: string;
  readonly statusUrl: string;
  /** Resolves once STOPPED, with how the process should exit. */
  readonly done: Promise<AgentExit>;
  onState(fn: (change: StateChange) => void): () => void;
  /** Graceful (DRAINING → STOPPED), idempotent. */
  close(): Promise<AgentExit>;
  /** Abrupt: Pipy is killed, listeners and timers go now, capture rules are removed; idempotent, also during close(). */
  destroy(err?: Error): Promise<AgentExit>;
}

export interface AgentTestHooks {
  /** Pins the backoff jitter. */
  readonly random?: () => number;
  /** Observes each backoff delay chosen. */
  readonly onBackoff?: (delayMs: number, ceilingMs: number) => void;
  readonly enrollTimeoutMs?: number;
  /** Wall clock for certificate validity and timestamps; the outage tests warp it. */
  readonly clock?: Clock;
  /** Where the resolver hook reads and writes (tests: temp files). */
  readonly resolverPaths?: ResolverPaths;
  /** Runs the iptables commands elsewhere (tests: ["ip", "netns", "exec", NAME]). */
  readonly captureCommandPrefix?: readonly string[];
  /** The prober's checks and timers (tests: a fake clock and fake checks). */
  readonly prober?: Pick<ProberOptions, "check" | "timers">;
  /** The start step of this name fails (the failure-at-start test walks every step). */
  readonly failAt?: string;
  /** Told the name of every start step as it begins. */
  readonly observeStep?: (step: string) => void;
}

/** The last failed attempt to reach the controller, as GET /status shows it; null once connected. */
interface LastFailure extends ConnectFailure {
  readonly controller: string;
  readonly at: string;
}

interface Identity {
  readonly proxyId: string;
  readonly service: ServiceRef;
  readonly keyPem: string;
  readonly certPem: string;
}

export async function startAgent(config: AgentConfig, logger: Logger, hooks: AgentTestHooks = {}): Promise<RunningAgent> {
  const repoAddress = parseHostPort(config.repoAddress, "repo address");
  if (config.proxy.enabled && formatHostPort(parseHostPort(config.proxy.adminAddress)) === formatHostPort(repoAddress) && repoAddress.port !== 0) {
    throw new MeshfedError("MESHFED_AGENT_CONFIG_INVALID", `the repo address and Pipy's admin address are both ${config.repoAddress}`);
  }
  if (config.proxy.enabled) checkMetricsAddress(config.proxy, config.repoAddress);

  const steps = new StartSequence({ ...(hooks.failAt !== undefined ? { failAt: hooks.failAt } : {}), ...(hooks.observeStep ? { observe: hooks.observeStep } : {}) });
  const dataDir = new DataDir(config.dataDir);
  const stored = await steps.step("data-dir", async () => {
    await dataDir.init();
    return dataDir.load();
  });
  const caPem = stored.caPem ?? await steps.step("ca-bundle", async () => {
    try {
      return await readFile(config.caFile, "utf8");
    } catch (err) {
      throw new MeshfedError("MESHFED_AGENT_CA_UNREADABLE", `cannot read the CA bundle ${config.caFile}: ${errorMessage(err)}`, { cause: err });
    }
  });
  const identity = stored.enrollment && stored.keyPem && stored.certPem
    ? { proxyId: stored.enrollment.proxyId, service: stored.enrollment.service, keyPem: stored.keyPem, certPem: stored.certPem }
    : undefined;
  if (identity && config.service !== undefined && config.service !== serviceKey(identity.service)) {
    throw new PermanentRefusal("MESHFED_AGENT_SERVICE_MISMATCH", `${config.dataDir} holds an enrollment for ${serviceKey(identity.service)}, but the agent is configured for ${config.service}`);
  }
  // Every part the agent starts from here on is registered on this closer; its
  // list, last in first out, is the drain order (docs/architecture.md "Lifecycle").
  const closer = new Closer({ closeTimeoutMs: config.proxy.stopGrace + config.proxy.drainDelay + 2_000, logger: logger.child({ component: "agent" }) });
  try {
    const capture = await steps.step("capture", async () => {
      const made = await captureFromConfig(config, logger, hooks.captureCommandPrefix);
      // Inbound closed, outbound open (docs/dataplane.md "Failure behaviour"): the
      // inbound redirect is in place before anything else starts, so the app's
      // mesh ports never answer plaintext from other hosts while the agent runs;
      // the OUTPUT jump waits for a ready Pipy. A host that cannot capture fails
      // the start with a named error rather than running unenforced.
      // Registered first, so removed last: a graceful stop leaves the nat table
      // as it found it; a kill -9 leaves the rules for the next start to reconcile.
      const manager = made.manager;
      if (manager !== undefined) closer.add({ name: "capture", close: () => manager.remove().catch(() => undefined) });
      await manager?.install(false);
      return made;
    });
    const agent = new Agent(config, logger, hooks, dataDir, caPem, identity, stored.serviceCertificate, capture, stored.enrollment?.probes ?? [], closer, steps);
    await agent.start(repoAddress, stored.goodConfig);
    return agent;
  } catch (err) {
    // Whatever had started closes, last first: a failed start leaves nothing running.
    await closer.close();
    throw err;
  }
}

class Agent implements RunningAgent {
  readonly #config: AgentConfig;
  readonly #log: Logger;
  readonly #root: Logger;
  readonly #hooks: AgentTestHooks;
  readonly #dataDir: DataDir;
  readonly #stop = new AbortController();
  readonly #tracker = new PipyRunTracker();
  readonly #healthChanged = new Listeners<void>();
  readonly #sm: AgentStateMachine;
  readonly #clock: Clock;
  #caPem: string;
  #identity: Identity | undefined;
  #serviceCert: ServiceCertificateData | undefined;
  #repo!: LocalRepo;
  #applier!: ConfigApplier;
  #supervisor: PipySupervisor | undefined;
  #dns: MeshDns | undefined;
  /** Why the DNS is not serving, when it failed to start. */
  #dnsFailure: string | undefined;
  #proxyVersion = "";
  #controllerIndex = 0;
  /** The key of the CSR last sent for a renewal; kept in memory only until its certificate is stored. */
  #renewalKey: { keys: CryptoKeyPair; pem: string } | undefined;
  /** The service certificate's validity last logged, so an outage warns once per change. */
  #reportedServiceValidity: CertificateValidity | undefined;
  /** Set while the last attempt failed because the controller and this agent do not share a CA. */
  #trust: CaMismatch | undefined;
  #lastFailure: LastFailure | undefined;
  #done!: Promise<AgentExit>;
  readonly #capture: CaptureSetup;
  #captureTimer: NodeJS.Timeout | undefined;
  /** Application health of the local endpoints (docs/agent.md, "Health probes"); closed in #drain. */
  readonly #prober: Prober;
  readonly #probeMetrics = new ProbeMetrics();
  /** Every started part, last in first out: #drain closes it, destroy() destroys it. */
  readonly #closer: Closer;
  readonly #steps: StartSequence;
  /** Probes from the join token (kept with the enrollment) and from the controller's hosts file (this connection's). */
  #tokenProbes: readonly HealthProbe[];
  #hostsProbes: readonly HealthProbe[] = [];
  /** Shared files kept by hash (file-cache.ts); listed in every Hello. */
  readonly #files: FileCache;

  constructor(config: AgentConfig, root: Logger, hooks: AgentTestHooks, dataDir: DataDir, caPem: string, identity: Identity | undefined, serviceCert: ServiceCertificateData | undefined, capture: CaptureSetup, tokenProbes: readonly HealthProbe[], closer: Closer, steps: StartSequence) {
    this.#config = config;
    this.#closer = closer;
    this.#steps = steps;
    this.#root = root;
    this.#log = root.child({ component: "agent" });
    this.#hooks = hooks;
    this.#clock = hooks.clock ?? systemClock;
    this.#dataDir = dataDir;
    this.#caPem = caPem;
    this.#identity = identity;
    this.#serviceCert = serviceCert;
    this.#capture = capture;
    this.#tokenProbes = tokenProbes;
    this.#prober = new Prober({ logger: root, clock: this.#clock, metrics: this.#probeMetrics, ...hooks.prober });
    this.#sm = new AgentStateMachine(identity === undefined ? "ENROLLING" : "CONNECTING", this.#log);
    this.#files = new FileCache(dataDir.file.sharedFiles(), this.#log);
  }

  get state(): AgentState {
    return this.#sm.state;
  }
  get proxyId(): string | undefined {
    return this.#identity?.proxyId;
  }
  get repoUrl(): string {
    return this.#repo.url;
  }
  get statusUrl(): string {
    return `http://${formatHostPort(this.#repo.address)}/status`;
  }
  get done(): Promise<AgentExit> {
    return this.#done;
  }
  onState(fn: (change: StateChange) => void): () => void {
    return this.#sm.on(fn);
  }
  close(): Promise<AgentExit> {
    this.#stop.abort();
    return this.#done;
  }
  destroy(err?: Error): Promise<AgentExit> {
    this.#stop.abort();
    void this.#closer.destroy(err);
    return this.#done;
  }

  async start(repoAddress: ReturnType<typeof parseHostPort>, good: Parameters<ConfigApplier["restore"]>[0] | undefined): Promise<void> {
    // A verdict left by an earlier run says nothing about this one. Before the repo listens:
    // /status must not be answered before the applier exists.
    const steps = this.#steps;
    const closer = this.#closer;
    await steps.step("trust-reset", () => this.#dataDir.clearTrustFailure());
    // Asked before the repo listens, too: between listen and the applier nothing may await.
    if (this.#config.proxy.enabled) this.#proxyVersion = await steps.step("pipy-version", () => proxyVersion(this.#config.proxy.pipy));
    const repo = await steps.step("repo", () => LocalRepo.listen({
      address: repoAddress, tracker: this.#tracker, logger: this.#root.child({ component: "repo" }), status: () => this.#status(),
      metrics: () => this.#probeMetrics.text(),
    }));
    closer.add({ name: "repo", close: () => repo.close() });
    this.#repo = repo;
    this.#log.info({ repo: this.#repo.url, dataDir: this.#config.dataDir, proxyId: this.#identity?.proxyId }, "local repo listening");
    this.#tracker.onChange(() => {
      this.#healthChanged.emit();
      this.#syncOutbound();
    });
    // Pipy is started later, on the first served version; its slot is here so
    // that it stops after the DNS (nothing points at a stopped DNS) and before the repo.
    closer.add({ name: "pipy", close: () => this.#stopProxy(), destroy: () => this.#supervisor?.destroy() });
    this.#applier = new ConfigApplier({
      dataDir: this.#dataDir,
      repo: this.#repo,
      tracker: this.#tracker,
      logger: this.#log,
      convergenceTimeoutMs: this.#config.proxy.convergenceTimeout,
      signal: this.#stop.signal,
      proxy: this.#config.proxy.enabled
        ? { served: () => this.#proxyServed(), describeFailure: () => this.#describeProxyFailure() }
        : undefined,
      // The service certificate reaches Pipy as codebase files over the loopback repo only; so does where to serve scrapes.
      ...(this.#config.proxy.enabled ? { attachments: () => [...scrapeFiles(this.#config.proxy), ...this.#certificateFiles()] } : {}),
    });
    // The applier's convergence waits and the enroll/connect loop stop on this signal;
    // the loop's end (a stop or a permanent refusal) drains the closer.
    closer.defer("stream", () => this.#stop.abort());
    if (this.#identity !== undefined) this.#identityKnown(this.#identity);
    if (this.#config.dns.enabled) {
      await steps.step("dns", () => this.#startDns());
      // The host's resolver is put back first: nothing may point at a DNS that is about to stop.
      closer.add({ name: "dns", close: () => this.#dns?.close() });
    }
    // The host's connections stop going to a Pipy that is about to drain.
    const manager = this.#capture.manager;
    if (manager !== undefined) {
      closer.add({ name: "capture:outbound", close: () => manager.setOutbound(false) });
      this.#captureTimer = setInterval(() => {
        const before = manager.status();
        void manager.check().then(() => {
          if (manager.status() !== before) this.#healthChanged.emit();
        });
      }, this.#config.capture.checkInterval);
      this.#captureTimer.unref();
      closer.defer("capture:check", () => clearInterval(this.#captureTimer));
    }
    this.#prober.onChange(() => this.#healthChanged.emit());
    // Probes run from the start, also through a controller outage: the first Hello then carries a verdict.
    await steps.step("health-probes", () => this.#applyProbes());
    closer.defer("health-probes", () => this.#prober.close());
    // Served before any controller answer: the proxy keeps running through an outage.
    if (good !== undefined && this.#identity !== undefined) await steps.step("restore", () => this.#applier.restore(good));
    this.#done = this.#run();
  }

  /**
   * The stream has ended: the controller withdraws this host's endpoints and
   * pushes its callers configs without them. A Pipy told to drain at once
   * closed their pooled connections under requests still on the way (issue
   * 23: "socket hang up" at the callers), so it keeps serving a moment longer.
   */
  async #stopProxy(): Promise<void> {
    const supervisor = this.#supervisor;
    if (supervisor === undefined) return;
    if (this.#identity !== undefined && this.#config.proxy.drainDelay > 0) {
      await new Promise((resolve) => setTimeout(resolve, this.#config.proxy.drainDelay));
    }
    await supervisor.close();
  }

  // ---- the loop ------------------------------------------------------------

  async #run(): Promise<AgentExit> {
    const signal = this.#stop.signal;
    const backoff = new Backoff({ baseMs: this.#config.backoff.base, capMs: this.#config.backoff.cap, ...(this.#hooks.random ? { random: this.#hooks.random } : {}) });
    let exit: AgentExit = { exitCode: 0 };
    try {
      while (!signal.aborted) {
        let failure: ConnectFailure | undefined;
        if (this.#identity === undefined) {
          const enrolled = await this.#enrollOnce();
          if (signal.aborted) break;
          if (enrolled.identity !== undefined) {
            backoff.reset();
            this.#sm.to("CONNECTING", { proxyId: enrolled.identity.proxyId });
            continue;
          }
          failure = enrolled.failure;
        } else {
          const identity = this.#identity;
          const end = await this.#connectOnce(identity);
          if (signal.aborted || end.kind === "aborted") break;
          if (end.kind === "renewed") {
            // Same controller, no backoff: the new certificate is proven by connecting with it.
            this.#sm.to("CONNECTING", { controller: this.#controller(), reason: "proxy certificate renewed" });
            continue;
          }
          if (end.kind === "shutdown" && end.permanent) {
            failure = await this.#classify({ permanent: true, code: end.code, details: end.reason || "the controller ended this proxy's stream for good", grpcCode: undefined }, true, identity);
          } else if (end.kind === "ended" && end.failure !== undefined) {
            failure = await this.#classify(end.failure, end.connectedMs > 0, identity);
          }
          if (end.connectedMs >= this.#config.backoff.stableAfter) backoff.reset();
        }
        if (failure?.action === "stop") throw new PermanentRefusal(failure.code, failure.detail);
        this.#controllerIndex = (this.#controllerIndex + 1) % this.#config.controller.length;
        // A certificate problem does not heal in seconds: retry it slowly (still jittered), not at the network pace.
        const slow = failure?.action === "slow";
        const ceiling = slow ? this.#config.backoff.tlsRetry : backoff.ceiling();
        const delay = slow ? Math.floor(ceiling / 2 + (this.#hooks.random ?? Math.random)() * (ceiling / 2)) : backoff.next();
        this.#hooks.onBackoff?.(delay, ceiling);
        this.#sm.to("BACKOFF", { delayMs: delay, ceilingMs: ceiling, attempt: backoff.attempt, next: this.#controller() });
        this.#warnIfServiceCertificateRunsOut();
        if (!(await sleep(delay, signal))) break;
        this.#sm.to(this.#identity === undefined ? "ENROLLING" : "CONNECTING", { controller: this.#controller() });
      }
    } catch (err) {
      exit = err instanceof PermanentRefusal
        ? { exitCode: EXIT_PERMANENT, code: err.code, message: err.message }
        : { exitCode: 1, code: errorCode(err), message: errorMessage(err) };
      this.#log.error({ code: exit.code, err: exit.message }, "agent stopping on an error that retrying cannot fix");
    }
    return this.#drain(exit);
  }

  /**
   * Closes every started part, last in first out: the stream, the probes, the
   * capture check, the OUTPUT jump, the DNS (resolver first), Pipy (after the
   * drain delay), the repo, the capture rules. The order is the start order
   * reversed (start()); a part that fails or hangs is named in the log and
   * does not hold up the rest.
   */
  async #drain(exit: AgentExit): Promise<AgentExit> {
    this.#stop.abort();
    this.#sm.to("DRAINING", { code: exit.code });
    const report = await this.#closer.close();
    if (report.failed.length > 0) this.#log.warn({ failed: report.failed.map((f) => f.part) }, "some parts did not close cleanly");
    this.#sm.to("STOPPED", { exitCode: exit.exitCode, code: exit.code });
    return exit;
  }

  /**
   * Nothing renews the service certificate while the controller is away: say
   * so once it is due, and loudly once it has expired (peers then refuse it).
   */
  #warnIfServiceCertificateRunsOut(): void {
    const c = this.#serviceCert;
    const validity = c === undefined ? undefined : certificateValidity(this.#clock.now(), c.notAfter, c.renewAt);
    if (c === undefined || validity === this.#reportedServiceValidity) return;
    this.#reportedServiceValidity = validity;
    if (validity === "renewal-due") {
      this.#log.warn({ serial: c.serial, notAfter: c.notAfter, code: "MESHFED_AGENT_CERT_RENEWAL_DUE" }, "service certificate due for renewal and the controller is unreachable; it stays valid until notAfter");
    } else if (validity === "expired") {
      this.#log.error({ serial: c.serial, notAfter: c.notAfter, code: "MESHFED_AGENT_CERT_EXPIRED" }, "service certificate expired while the controller is unreachable; peers will refuse mTLS");
    }
  }

  #controller(): string {
    return this.#config.controller[this.#controllerIndex % this.#config.controller.length]!;
  }

  /**
   * Classifies a failed attempt (connect-failure.ts), remembers it for GET
   * /status and logs it once with its class and code.
   */
  async #classify(failure: RpcFailure, answered: boolean, identity: Identity | undefined): Promise<ConnectFailure> {
    const controller = this.#controller();
    const caPem = this.#caPem;
    const result = await classifyConnectFailure({
      failure, answered, caPem, now: this.#clock.now(),
      ...(identity ? { certPem: identity.certPem } : {}),
      probe: () => probeTls({ address: controller, caPem, timeoutMs: 5_000, ...(identity ? { keyPem: identity.keyPem, certPem: identity.certPem } : {}) }),
    });
    this.#lastFailure = { ...result, controller, at: this.#clock.now().toISOString() };
    const fields = { controller, class: result.class, code: result.code, err: result.detail, action: result.action, grpcCode: failure.code };
    if (result.class === "tls") this.#log.error(fields, "TLS certificate problem talking to the controller");
    else if (result.action !== "stop") this.#log.warn(fields, "controller unreachable; will retry");
    return result;
  }

  /** The new identity, or on a transient failure (back off) what went wrong; throws PermanentRefusal. */
  async #enrollOnce(): Promise<{ identity?: Identity; failure?: ConnectFailure }> {
    const c = this.#config;
    const attested = c.bootstrap === "azure-imds";
    if (!attested && c.tokenFile === undefined) {
      throw new PermanentRefusal("MESHFED_AGENT_NOT_ENROLLED", `no proxy certificate in ${c.dataDir} and no token file to enroll with (--token-file, or --bootstrap azure-imds)`);
    }
    let token = "";
    if (!attested) {
      try {
        token = (await readFile(c.tokenFile!, "utf8")).trim();
      } catch (err) {
        throw new PermanentRefusal("MESHFED_AGENT_TOKEN_UNREADABLE", `cannot read the token file ${c.tokenFile}: ${errorMessage(err)}`, { cause: err });
      }
    }
    const stored = await this.#dataDir.load();
    let keyPem = stored.keyPem;
    let keys;
    if (keyPem === undefined) {
      const generated = await generateProxyKey();
      keyPem = generated.pem;
      keys = generated.keys;
      await this.#dataDir.saveKey(keyPem);
      this.#log.info({ file: this.#dataDir.file.key() }, "generated the proxy key (P-256)");
    } else {
      keys = await importProxyKey(keyPem);
    }
    const address = this.#controller();
    try {
      const rpc = { address, caPem: this.#caPem, timeoutMs: this.#hooks.enrollTimeoutMs ?? 15_000, signal: this.#stop.signal, keepalive: this.#config.keepalive };
      const azureAttested = attested ? await attestAzure(rpc, c.imdsUrl) : undefined;
      const res = await callEnroll({
        ...rpc, token, csrPem: await buildCsr(keys), agentVersion: agentVersion(), hostname: hostname(),
        ...(azureAttested ? { azureAttested } : {}),
      });
      const r = await checkEnrollResponse(res, keys, c.service === undefined ? undefined : parseServiceKey(c.service));
      if (r.caBundlePem !== "") this.#caPem = r.caBundlePem;
      if (r.rejectedProbes.length > 0) this.#log.warn({ code: "MESHFED_PROBE_INVALID", rejected: r.rejectedProbes }, "the join token's health probes include invalid ones; those are ignored");
      await this.#dataDir.saveEnrollment({ proxyId: r.proxyId, service: r.service, enrolledAt: this.#clock.now().toISOString(), probes: r.probes }, r.certificatePem, r.caBundlePem);
      this.#tokenProbes = r.probes;
      this.#applyProbes();
      const identity = { proxyId: r.proxyId, service: r.service, keyPem, certPem: r.certificatePem };
      this.#identity = identity;
      this.#log.info({ proxyId: r.proxyId, service: serviceKey(r.service), notAfter: r.notAfter, controller: address }, "enrolled");
      this.#identityKnown(identity);
      this.#lastFailure = undefined;
      return { identity };
    } catch (err) {
      if (err instanceof PermanentRefusal) throw err;
      const known = attested ? attestationFailure(err) : undefined;
      if (known !== undefined) {
        this.#lastFailure = { ...known, controller: address, at: this.#clock.now().toISOString() };
        this.#log.warn({ controller: address, class: known.class, code: known.code, err: known.detail, action: known.action }, "enrollment by Azure attestation failed; will retry");
        return { failure: known };
      }
      await this.#noteCaMismatch(address, errorMessage(err));
      return { failure: await this.#classify(classifyRpcError(err), false, undefined) };
    }
  }

  async #connectOnce(identity: Identity): Promise<SessionEnd> {
    const address = this.#controller();
    const proto = loadProto();
    const client = new proto.meshfed.v1.ProxyControlPlane(address, mutualCredentials(this.#caPem, identity.keyPem, identity.certPem), channelOptions(address, this.#config.keepalive));
    const good = this.#applier.good;
    try {
      // Names only; each is checked against its hash when a config refers to it.
      const cached = await this.#files.list().catch((err: unknown) => {
        this.#log.warn({ err: errorMessage(err) }, "the shared-file cache could not be listed; the controller sends every file in full");
        return [];
      });
      const end = await runStreamSession({
        client,
        files: this.#files,
        hello: {
          proxyId: identity.proxyId,
          hostAddresses: this.#config.hostAddresses ?? defaultHostAddresses(),
          endpoints: this.#endpoints(),
          agentVersion: agentVersion(),
          proxyVersion: this.#config.proxy.enabled ? this.#proxyVersion : "",
          configVersion: good?.version ?? 0,
          configHash: good?.hash ?? "",
          dns: this.#dnsStatus(),
          capture: this.#captureMessage(),
          endpointHealth: this.#prober.health(),
          fileCache: { supported: true, sha256: cached },
        },
        handlers: {
          caBundle: (pem) => this.#onCaBundle(pem),
          renewProxyCertificate: () => this.#onRenewalRequest(),
          proxyCertificate: (answer) => this.#onProxyCertificate(answer),
          serviceCertificate: (cert) => this.#onServiceCertificate(cert),
          config: (cfg) => this.#applier.apply(cfg),
          meshNames: async (table) => {
            await this.#dns?.setTable(table);
          },
          healthProbes: async (probes) => {
            this.#hostsProbes = probes;
            this.#applyProbes();
          },
        },
        health: () => this.#health(),
        onHealthChange: (fn) => this.#healthChanged.add(fn),
        healthIntervalMs: this.#config.healthInterval,
        logger: this.#log,
        signal: this.#stop.signal,
        connected: () => {
          this.#lastFailure = undefined;
          this.#sm.to("CONNECTED", { controller: address });
          void this.#trustRestored();
        },
      });
      if (end.kind === "ended" && !(await this.#noteCaMismatch(address, end.failure?.details ?? ""))) {
        this.#log.warn({ controller: address, code: end.failure?.code, err: end.failure?.details, connectedMs: end.connectedMs }, "stream ended");
      }
      return end;
    } finally {
      client.close();
    }
  }

  /** True (and logged, shown, written for the installer) when a failure is a CA mismatch. */
  async #noteCaMismatch(address: string, errorText: string): Promise<boolean> {
    const mismatch = caMismatchOf(errorText, address, this.#config.caFile, this.#clock.now());
    if (mismatch === undefined) return false;
    const trust = { ...mismatch, since: this.#trust?.since ?? mismatch.since };
    this.#log.error({ code: mismatch.code, controller: address, err: mismatch.tlsError }, mismatch.message);
    await this.#dataDir.saveTrustFailure({ ...trust, pid: process.pid }).catch((err: unknown) => this.#log.warn({ err: errorMessage(err) }, "could not write the trust verdict for the installer"));
    // Shown in /status once the file is there: whoever reads one finds the other.
    this.#trust = trust;
    return true;
  }

  async #trustRestored(): Promise<void> {
    if (this.#trust === undefined) return;
    this.#trust = undefined;
    this.#log.info("the controller and this agent share a CA again");
    await this.#dataDir.clearTrustFailure().catch(() => undefined);
  }

  // ---- health probes -----------------------------------------------------------

  #endpoints(): Array<{ ip: string; port: number; protocol: string }> {
    return this.#config.endpoints.map((e) => {
      const { address, protocol } = splitProtocolSuffix(e);
      const hp = parseHostPort(address);
      return { ip: hp.host, port: hp.port, protocol: protocol ?? "" };
    });
  }

  /** Precedence per port: agent config > join token > hosts file (common/health-probe.ts). */
  #applyProbes(): void {
    if (this.#stop.signal.aborted) return;
    const probes = mergeProbes({ agent: this.#config.probes, token: this.#tokenProbes, hosts: this.#hostsProbes });
    this.#prober.set(probes, this.#endpoints());
  }

  // ---- mesh DNS ----------------------------------------------------------------

  /** A DNS that cannot start (address in use) is reported, not fatal: the proxy and the stream still matter more. */
  async #startDns(): Promise<void> {
    const d = this.#config.dns;
    const listen = parseHostPort(d.listen, "DNS listen address");
    const log = this.#root.child({ component: "dns" });
    const hook = new ResolverHook({ mode: d.hook, paths: this.#hooks.resolverPaths ?? DEFAULT_RESOLVER_PATHS, listen, logger: log });
    const dns = new MeshDns({
      listen, hook, logger: this.#root, forwardTimeoutMs: d.forwardTimeout, maxInFlight: d.maxInFlight,
      ...(d.upstreams !== undefined ? { upstreams: d.upstreams.map((host) => ({ host, port: 53 })) } : {}),
      store: {
        load: async () => {
          const raw = await this.#dataDir.loadMeshNames();
          if (raw === undefined) return undefined;
          return nameTableSchema.parse(raw);
        },
        save: (table) => this.#dataDir.saveMeshNames(table),
      },
    });
    try {
      await dns.start();
      this.#dns = dns;
    } catch (err) {
      this.#dnsFailure = errorMessage(err);
      this.#log.error({ code: errorCode(err), err: this.#dnsFailure }, "mesh DNS could not start; mesh names do not resolve on this host");
    }
  }

  #dnsStatus(): DnsStatus {
    if (!this.#config.dns.enabled) return { state: "disabled", listen: "", hook: "none", namesHash: "", names: 0, detail: "" };
    const s = this.#dns?.status();
    if (s === undefined) return { state: "failed", listen: this.#config.dns.listen, hook: "none", namesHash: "", names: 0, detail: this.#dnsFailure ?? "" };
    return { state: s.state, listen: s.listen, hook: s.hook, namesHash: s.namesHash, names: s.names, detail: s.detail };
  }

  // ---- controller messages ---------------------------------------------------

  async #onCaBundle(pem: string): Promise<void> {
    if (!isCertificateBundle(pem)) {
      this.#log.error("CA bundle from the controller is not PEM certificates; ignored");
      return;
    }
    if (pem === this.#caPem) return;
    await this.#dataDir.saveCaBundle(pem);
    this.#caPem = pem;
    this.#log.info({ file: this.#dataDir.file.ca() }, "CA bundle updated; pinned for the next connections");
    this.#pushToProxy();
  }

  /** A new key for every renewal: a rotation must not leave the old key in use. */
  async #onRenewalRequest(): Promise<string> {
    const generated = await generateProxyKey();
    this.#renewalKey = generated;
    return buildCsr(generated.keys);
  }

  /** True once the renewed key and certificate are stored: the stream then reconnects with them. */
  async #onProxyCertificate(answer: ProxyCertificateAnswer): Promise<boolean> {
    const pending = this.#renewalKey;
    this.#renewalKey = undefined;
    if (answer.errorCode !== "") {
      this.#log.error({ code: answer.errorCode, err: answer.error }, "the controller refused the proxy certificate renewal; keeping the current certificate");
      return false;
    }
    const identity = this.#identity;
    if (pending === undefined || identity === undefined) {
      this.#log.warn("a proxy certificate arrived without a renewal in progress; ignored");
      return false;
    }
    if (!(await carriesKey(answer.certificatePem, pending.keys))) {
      this.#log.error({ code: "MESHFED_AGENT_RENEWAL_INVALID" }, "the renewed proxy certificate is not for the key this agent sent; keeping the current certificate");
      return false;
    }
    if (answer.caBundlePem !== "" && isCertificateBundle(answer.caBundlePem)) await this.#onCaBundle(answer.caBundlePem);
    await this.#dataDir.saveProxyIdentity(pending.pem, answer.certificatePem);
    this.#identity = { ...identity, keyPem: pending.pem, certPem: answer.certificatePem };
    this.#log.info({ serial: answer.serial, notAfter: answer.notAfter, file: this.#dataDir.file.proxyIdentity() }, "proxy certificate renewed; reconnecting with it");
    return true;
  }

  async #onServiceCertificate(cert: ServiceCertificateData): Promise<void> {
    if (!isCertificateBundle(cert.certificatePem)) {
      this.#log.error({ serial: cert.serial }, "service certificate is not PEM; ignored");
      return;
    }
    await this.#dataDir.saveServiceCertificate(cert);
    this.#serviceCert = cert;
    this.#reportedServiceValidity = undefined;
    this.#log.info({ serial: cert.serial, notAfter: cert.notAfter, renewAt: cert.renewAt }, "service certificate stored");
    this.#pushToProxy();
  }

  // ---- proxy side ------------------------------------------------------------

  #identityKnown(identity: Identity): void {
    this.#tracker.expectInstance(identity.proxyId);
    if (!this.#config.proxy.enabled || this.#supervisor !== undefined) return;
    const p = this.#config.proxy;
    const supervisor = new PipySupervisor({
      pipy: p.pipy,
      args: [this.#repo.url, `--admin-port=${p.adminAddress}`, `--instance-uuid=${identity.proxyId}`, `--instance-name=${identity.service.name}.${identity.service.namespace}.${hostname()}`, ...p.args],
      logger: this.#root,
      ...(this.#capture.user !== undefined ? { user: this.#capture.user } : {}),
      stopGraceMs: p.stopGrace,
      restartCapMs: p.restartBackoffCap,
      pidFile: new ProxyPidFile(this.#dataDir.file.pipyPid(), this.#root),
      ...(this.#hooks.random ? { random: this.#hooks.random } : {}),
    });
    supervisor.onState(() => {
      this.#healthChanged.emit();
      this.#syncOutbound();
    });
    supervisor.onExit(() => this.#tracker.processGone());
    this.#supervisor = supervisor;
  }

  /** A version is served: Pipy starts on the first one; later ones are pushed with `reload`. */
  #proxyServed(): void {
    const s = this.#supervisor;
    if (s === undefined || this.#stop.signal.aborted) return;
    if (!s.started) {
      s.start();
      return;
    }
    this.#repo.pushReload();
  }

  /** Certificates changed: the served version gets the new files, a new ETag, and Pipy reloads. */
  #pushToProxy(): void {
    this.#applier.refreshAttachments();
  }

  /** /certs/service.crt, /certs/service.key, /certs/ca.pem (paths the Pipy driver's scripts read). */
  #certificateFiles(): ConfigFileData[] {
    const c = this.#serviceCert;
    if (c === undefined) return [];
    return [
      { path: "/certs/service.crt", content: Buffer.from(c.certificatePem, "utf8") },
      { path: "/certs/service.key", content: Buffer.from(c.privateKeyPem, "utf8") },
      // The stream's CA bundle, not the one sent with the service certificate:
      // during a CA rotation it gains the new root before any peer presents a
      // certificate from it, and loses the old one only after every peer moved.
      { path: "/certs/ca.pem", content: Buffer.from(this.#caPem, "utf8") },
    ];
  }

  #describeProxyFailure(): string | undefined {
    const s = this.#supervisor;
    if (s === undefined) return undefined;
    if (s.state !== "running") return `proxy is ${s.state}`;
    return s.lastError() ?? (this.#tracker.lastReportAt === undefined ? "the proxy has not reported status yet" : undefined);
  }

  #proxyState(): string {
    if (!this.#config.proxy.enabled) return "disabled";
    const s = this.#supervisor;
    if (s === undefined || !s.started) return "waiting";
    return s.state;
  }

  #runningVersion(): number {
    const etag = this.#tracker.runningEtag;
    if (etag === undefined) return 0;
    for (const v of [this.#applier.good, this.#repo.current]) if (v !== undefined && this.#tracker.isRunning(v.etag)) return v.version;
    return 0;
  }

  #health(): Health {
    return {
      proxyState: this.#proxyState(), runningVersion: this.#runningVersion(), detail: this.#describeProxyFailure() ?? "", capture: this.#captureMessage(),
      endpointHealth: this.#prober.health(),
    };
  }

  /**
   * Outbound fails open: the OUTPUT jump is in place only while Pipy runs and
   * has loaded a config (it reported status), so a Pipy that is starting,
   * crash-looping or stopping never black-holes the host's connections.
   */
  #syncOutbound(): void {
    const manager = this.#capture.manager;
    if (manager === undefined || this.#stop.signal.aborted) return;
    const ready = this.#supervisor?.state === "running" && this.#tracker.runningEtag !== undefined;
    const before = manager.status();
    void manager.setOutbound(ready).then(() => {
      if (manager.status() !== before) this.#healthChanged.emit();
    });
  }

  #captureStatus(): CaptureStatus {
    return this.#capture.manager?.status() ?? CAPTURE_NONE;
  }

  #captureMessage(): CaptureStatusMessage {
    const s = this.#captureStatus();
    return { mode: s.mode, installed: s.installed, outboundActive: s.outboundActive, errorCode: s.lastErrorCode, error: s.lastError };
  }

  #certificateStatus(): unknown {
    const now = this.#clock.now();
    const proxyNotAfter = this.#identity ? certificateNotAfter(this.#identity.certPem) : undefined;
    const c = this.#serviceCert;
    const serviceNotAfter = c === undefined ? undefined : c.notAfter || certificateNotAfter(c.certificatePem);
    return {
      proxy: { notAfter: proxyNotAfter ?? null, validity: proxyNotAfter === undefined ? null : certificateValidity(now, proxyNotAfter) ?? null },
      service: {
        notAfter: serviceNotAfter ?? null,
        renewAt: c?.renewAt || null,
        validity: serviceNotAfter === undefined ? null : certificateValidity(now, serviceNotAfter, c?.renewAt) ?? null,
      },
    };
  }

  #status(): unknown {
    const good = this.#applier.good;
    return {
      state: this.#sm.state,
      configVersion: good?.version ?? null,
      configHash: good?.hash ?? null,
      proxyId: this.#identity?.proxyId ?? null,
      service: this.#identity ? serviceKey(this.#identity.service) : null,
      proxy: { state: this.#proxyState(), runningVersion: this.#runningVersion() || null },
      certificates: this.#certificateStatus(),
      trust: this.#trust ?? null,
      lastFailure: this.#lastFailure ?? null,
      dns: this.#config.dns.enabled ? (this.#dns?.status() ?? this.#dnsStatus()) : { state: "disabled" },
      capture: this.#captureStatus(),
      health: this.#prober.health(),
    };
  }
}

async function carriesKey(certificatePem: string, keys: CryptoKeyPair): Promise<boolean> {
  try {
    const cert = parseCertificate(certificatePem);
    return certificateHasKey(cert, new Uint8Array(await crypto.subtle.exportKey("spki", keys.publicKey)));
  } catch {
    return false;
  }
}

