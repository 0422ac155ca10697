import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/**
 * Every metric the controller exports, in one registry. Names carry the
 * `meshfed_` prefix and their unit (`_seconds`, `_total`), as Prometheus
 * naming asks. Components receive this object and touch only their own
 * metrics; tests build a fresh one so counts never leak between tests.
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
  readonly enrollments: Counter<"result">;
  readonly streamRejections: Counter<"code">;
  readonly configPushes: Counter<"driver">;
  readonly configAcks: Counter<"result">;
  readonly serviceCertificatePushes: Counter;
  readonly leader: Gauge;
  readonly vipsAllocated: Gauge;
  readonly vipExhausted: Counter;

  constructor(options: { defaultMetrics?: boolean } = {}) {
    const registry = new Registry();
    this.registry = registry;
    if (options.defaultMetrics) collectDefaultMetrics({ register: registry, prefix: "meshfed_process_" });
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
    this.enrollments = new Counter({ name: "meshfed_enrollments_total", help: "Enroll calls by result (ok or the refusal code).", labelNames: ["result"], registers: r });
    this.streamRejections = new Counter({ name: "meshfed_stream_rejections_total", help: "Connect streams refused or ended by the controller, by code.", labelNames: ["code"], registers: r });
    this.configPushes = new Counter({ name: "meshfed_config_pushes_total", help: "Config versions sent to proxies.", labelNames: ["driver"], registers: r });
    this.configAcks = new Counter({ name: "meshfed_config_acks_total", help: "Config versions acknowledged (ack) or refused (nack) by proxies.", labelNames: ["result"], registers: r });
    this.leader = new Gauge({ name: "meshfed_leader", help: "1 while this replica does the leader-only work (always 1 with the file store).", registers: r });
    this.vipsAllocated = new Gauge({ name: "meshfed_vips_allocated", help: "Mesh virtual IPs recorded in the state store (services gone less than the grace period included).", registers: r });
    this.vipExhausted = new Counter({ name: "meshfed_vip_range_exhausted_total", help: "Allocations that found no free address in mesh.vipRange (the service has no VIP).", registers: r });
    this.serviceCertificatePushes = new Counter({ name: "meshfed_service_certificate_pushes_total", help: "Service certificates sent to proxies.", registers: r });
  }
}
