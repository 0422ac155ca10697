import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/** What the fleet gauges read when Prometheus scrapes (the control plane's sessions, the certificate registry). */
export interface FleetSource {
  /** One row per connected proxy on this replica; `sentVersion` undefined when nothing was sent on its stream yet. */
  proxies(): ReadonlyArray<{ readonly agentVersion: string; readonly proxyVersion: string; readonly sentVersion: number | undefined; readonly ackedVersion: number | undefined; readonly ackOk: boolean | undefined }>;
  /** Every certificate record that is not revoked. */
  certificates(): ReadonlyArray<{ readonly kind: string; readonly state: string; readonly notAfter: string }>;
}

/**
 * Every metric the controller exports, in one registry. Names carry the
 * `meshfed_` prefix and their unit (`_seconds`, `_total`), as Prometheus
 * naming asks; Node's own process metrics keep their standard names
 * (`process_*`, `nodejs_*`) so stock dashboards and alerts find them.
 * Components receive this object and touch only their own metrics; tests
 * build a fresh one so counts never leak between tests.
 */
export class ControllerMetrics {
  readonly registry: Registry;
  readonly providerSyncs: Counter<"provider">;
  readonly providerErrors: Counter<"provider" | "code">;
  readonly providerServices: Gauge<"provider">;
  readonly providerEndpoints: Gauge<"provider">;
  readonly certificatesIssued: Counter<"kind">;
  readonly certificateIssueSeconds: Histogram<"kind">;
  readonly certificateRejections: Counter<"code">;
  readonly catalogServices: Gauge;
  readonly catalogEndpoints: Gauge;
  readonly catalogConflicts: Gauge;
  readonly catalogUnhealthyEndpoints: Gauge;
  readonly catalogUpdates: Counter;
  readonly catalogUpdateSeconds: Histogram;
  readonly proxiesConnected: Gauge;
  readonly proxiesWithdrawalHeld: Gauge;
  readonly enrollments: Counter<"result">;
  readonly streamRejections: Counter<"code">;
  readonly configPushes: Counter<"driver">;
  readonly configAcks: Counter<"result">;
  readonly serviceCertificatePushes: Counter;
  readonly leader: Gauge;
  readonly vipsAllocated: Gauge;
  readonly vipExhausted: Counter;
  readonly configAckSeconds: Histogram<"result">;
  #fleet: FleetSource | undefined;

  constructor(options: { defaultMetrics?: boolean } = {}) {
    const registry = new Registry();
    this.registry = registry;
    if (options.defaultMetrics) collectDefaultMetrics({ register: registry });
    const r = [registry];
    this.providerSyncs = new Counter({ name: "meshfed_provider_syncs_total", help: "Successful full syncs or reloads per provider.", labelNames: ["provider"], registers: r });
    this.providerErrors = new Counter({ name: "meshfed_provider_errors_total", help: "Failed syncs or reloads per provider and error code; the last good view is kept.", labelNames: ["provider", "code"], registers: r });
    this.providerServices = new Gauge({ name: "meshfed_provider_services", help: "Services currently known to each provider.", labelNames: ["provider"], registers: r });
    this.providerEndpoints = new Gauge({ name: "meshfed_provider_endpoints", help: "Endpoints currently known to each provider.", labelNames: ["provider"], registers: r });
    this.certificatesIssued = new Counter({ name: "meshfed_certificates_issued_total", help: "Certificates signed by the CA.", labelNames: ["kind"], registers: r });
    this.certificateIssueSeconds = new Histogram({ name: "meshfed_certificate_issue_duration_seconds", help: "Time to validate and sign one certificate.", labelNames: ["kind"], buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5], registers: r });
    this.certificateRejections = new Counter({ name: "meshfed_certificate_rejections_total", help: "CSRs refused, by error code.", labelNames: ["code"], registers: r });
    this.catalogServices = new Gauge({ name: "meshfed_catalog_services", help: "Services in the merged catalog.", registers: r });
    this.catalogEndpoints = new Gauge({ name: "meshfed_catalog_endpoints", help: "Endpoints in the merged catalog, counted per service.", registers: r });
    this.catalogConflicts = new Gauge({ name: "meshfed_catalog_conflicts", help: "IP:port pairs claimed by more than one service.", registers: r });
    this.catalogUnhealthyEndpoints = new Gauge({ name: "meshfed_catalog_unhealthy_endpoints", help: "Endpoints withheld from callers because their agent's health probe fails.", registers: r });
    this.catalogUpdates = new Counter({ name: "meshfed_catalog_updates_total", help: "Coalesced catalog updates applied.", registers: r });
    this.catalogUpdateSeconds = new Histogram({ name: "meshfed_catalog_update_duration_seconds", help: "Time to apply one coalesced catalog update.", buckets: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1], registers: r });
    this.proxiesConnected = new Gauge({ name: "meshfed_proxies_connected", help: "Proxies with an open control-plane stream.", registers: r });
    this.proxiesWithdrawalHeld = new Gauge({ name: "meshfed_proxies_withdrawal_held", help: "Disconnected proxies past their reconnect grace whose endpoints a mass disconnect keeps until it ends.", registers: r });
    this.enrollments = new Counter({ name: "meshfed_enrollments_total", help: "Enroll calls by result (ok or the refusal code).", labelNames: ["result"], registers: r });
    this.streamRejections = new Counter({ name: "meshfed_stream_rejections_total", help: "Connect streams refused or ended by the controller, by code.", labelNames: ["code"], registers: r });
    this.configPushes = new Counter({ name: "meshfed_config_pushes_total", help: "Config versions sent to proxies.", labelNames: ["driver"], registers: r });
    this.configAcks = new Counter({ name: "meshfed_config_acks_total", help: "Config versions acknowledged (ack) or refused (nack) by proxies.", labelNames: ["result"], registers: r });
    this.leader = new Gauge({ name: "meshfed_leader", help: "1 while this replica does the leader-only work (always 1 with the file store).", registers: r });
    this.vipsAllocated = new Gauge({ name: "meshfed_vips_allocated", help: "Mesh virtual IPs recorded in the state store (services gone less than the grace period included).", registers: r });
    this.vipExhausted = new Counter({ name: "meshfed_vip_range_exhausted_total", help: "Allocations that found no free address in mesh.vipRange (the service has no VIP).", registers: r });
    this.serviceCertificatePushes = new Counter({ name: "meshfed_service_certificate_pushes_total", help: "Service certificates sent to proxies.", registers: r });
    this.configAckSeconds = new Histogram({
      name: "meshfed_config_ack_duration_seconds", help: "From sending a config version to the proxy's ACK or NACK of it.",
      labelNames: ["result"], buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30], registers: r,
    });
    // Computed when scraped, from the live state: nothing on the hot path.
    const fleet = () => this.#fleet;
    new Gauge({
      name: "meshfed_proxies_by_version", help: "Connected proxies on this replica by agent and Pipy version.", labelNames: ["agent_version", "proxy_version"], registers: r,
      collect() {
        this.reset();
        for (const p of fleet()?.proxies() ?? []) this.inc({ agent_version: p.agentVersion || "unknown", proxy_version: p.proxyVersion || "none" });
      },
    });
    new Gauge({
      name: "meshfed_proxies_config_behind", help: "Connected proxies whose last ACK is not for the last config sent (in flight, or refused).", labelNames: ["reason"], registers: r,
      collect() {
        this.reset();
        let pending = 0;
        let refused = 0;
        for (const p of fleet()?.proxies() ?? []) {
          if (p.sentVersion === undefined) continue;
          if (p.ackedVersion === p.sentVersion && p.ackOk === false) refused += 1;
          else if (p.ackedVersion !== p.sentVersion) pending += 1;
        }
        this.set({ reason: "pending" }, pending);
        this.set({ reason: "nack" }, refused);
      },
    });
    new Gauge({
      name: "meshfed_certificates", help: "Certificate records by kind and state (revoked ones excluded).", labelNames: ["kind", "state"], registers: r,
      collect() {
        this.reset();
        for (const c of fleet()?.certificates() ?? []) this.inc({ kind: c.kind, state: c.state });
      },
    });
    new Gauge({
      name: "meshfed_certificate_earliest_expiry_timestamp_seconds", help: "The soonest notAfter among live certificates of each kind (Unix seconds).", labelNames: ["kind"], registers: r,
      collect() {
        this.reset();
        const earliest = new Map<string, number>();
        for (const c of fleet()?.certificates() ?? []) {
          const t = Date.parse(c.notAfter) / 1000;
          if (Number.isFinite(t) && t < (earliest.get(c.kind) ?? Infinity)) earliest.set(c.kind, t);
        }
        for (const [kind, t] of earliest) this.set({ kind }, t);
      },
    });
  }

  /** Where the fleet gauges read from; set once the control plane exists. */
  setFleetSource(source: FleetSource): void {
    this.#fleet = source;
  }
}
