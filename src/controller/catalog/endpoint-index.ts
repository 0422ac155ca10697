import { DEFAULT_APP_PROTOCOL, type AppProtocol } from "../../common/app-protocol.js";
import { compareServiceRefs, parseServiceKey, type ServiceKey, type ServiceRef } from "../../common/service.js";
import type { Provenance, ProviderEndpoint } from "../providers/types.js";
import { resolveDeclarations, type Declaration } from "./declarations.js";
import type { CatalogEndpoint, CatalogService, Conflict, Disagreement } from "./types.js";
import { compareStrings } from "../../common/compare.js";

/** What one provider currently says about one service. */
export interface ProviderView {
  readonly provider: string;
  readonly endpoints: readonly ProviderEndpoint[] | undefined;
}

interface MergedEndpoint {
  readonly ip: string;
  readonly port: number;
  readonly provenance: Provenance[];
  /** What each provider declares about the endpoint (protocol, account), in provider order. */
  readonly declarations: Declaration[];
  /** Resolved when the row is complete (see #settle). */
  protocol: AppProtocol;
  protocolFrom: string | undefined;
  serviceAccount: string;
  serviceAccountFrom: string | undefined;
}

interface MergedService {
  readonly ref: ServiceRef;
  /** Keyed by `ip|port`: every endpoint any provider reports, before conflict resolution. */
  readonly endpoints: Map<string, MergedEndpoint>;
}

const addressKey = (ip: string, port: number): string => `${ip}|${port}`;

/**
 * The merged endpoint table. `replace()` takes one service's provider views
 * and updates only the rows that service touches, so the cost of a change is
 * proportional to the endpoints of the changed service (plus those of the
 * services it conflicts with), never to the size of the mesh.
 *
 * Conflicts: the same IP:port claimed by two services. The claim whose best
 * provider has the higher priority wins; on a tie the first service key in
 * order wins and the conflict says "tie". Losers keep the row in their raw set
 * so that the endpoint comes back to them as soon as the winner lets go.
 */
export class EndpointIndex {
  readonly #services = new Map<ServiceKey, MergedService>();
  /** address → service → providers claiming it for that service. */
  readonly #claims = new Map<string, Map<ServiceKey, Set<string>>>();
  readonly #conflicts = new Map<string, Conflict>();
  /** Per service: its endpoints on which providers declare different protocols or accounts. */
  readonly #disagreements = new Map<ServiceKey, Disagreement[]>();
  /** `namespace/account` → services with an effective endpoint running as it. */
  readonly #servicesByAccount = new Map<string, Set<ServiceKey>>();
  /** service → its accounts (sorted), as last indexed. */
  readonly #accountsOf = new Map<ServiceKey, readonly string[]>();
  /** Accounts whose set of services changed since the last takeChangedAccounts(). */
  readonly #changedAccounts = new Set<string>();
  readonly #rank: (provider: string) => number;
  #endpointCount = 0;
  /**
   * service()'s answers, frozen, until replace() reports the service affected.
   * A push reads the same few services for every proxy (its own for the
   * identity and the view, and each outbound): building each answer anew
   * (copies, sorts) was ~9 % of a mesh-wide push's main thread at N = 2,000.
   */
  readonly #answers = new Map<ServiceKey, CatalogService>();

  readonly #corroborateOnly: ReadonlySet<string>;

  /**
   * `priority` lists provider ids, highest first; unlisted providers rank
   * after all listed ones. Endpoints from `corroborateOnly` providers count
   * only when another provider reports the same IP:port for the same service
   * (agents without self-registration: a stolen token cannot add endpoints).
   */
  constructor(priority: readonly string[], corroborateOnly: readonly string[] = []) {
    const ranks = new Map(priority.map((p, i) => [p, i]));
    this.#rank = (p) => ranks.get(p) ?? priority.length;
    this.#corroborateOnly = new Set(corroborateOnly);
  }

  /**
   * Replaces everything known about `key` with the given provider views and
   * returns every service whose effective endpoints may have changed: `key`
   * itself and the other parties of any conflict that appeared or went away.
   */
  replace(key: ServiceKey, views: readonly ProviderView[]): Set<ServiceKey> {
    const affected = new Set<ServiceKey>([key]);
    const previous = this.#services.get(key);
    const known = views.some((v) => v.endpoints !== undefined);
    const next: MergedService | undefined = known ? { ref: previous?.ref ?? parseServiceKey(key), endpoints: new Map() } : undefined;
    if (next) {
      for (const view of views) {
        for (const ep of view.endpoints ?? []) {
          const k = addressKey(ep.ip, ep.port);
          let row = next.endpoints.get(k);
          if (!row) {
            row = { ip: ep.ip, port: ep.port, provenance: [], declarations: [], protocol: DEFAULT_APP_PROTOCOL, protocolFrom: undefined, serviceAccount: next.ref.name, serviceAccountFrom: undefined };
            next.endpoints.set(k, row);
          }
          row.provenance.push({ provider: view.provider, source: ep.source });
          if (ep.protocol !== undefined || ep.serviceAccount !== undefined) {
            row.declarations.push({ provider: view.provider, source: ep.source, ...(ep.protocol === undefined ? {} : { protocol: ep.protocol }), ...(ep.serviceAccount === undefined ? {} : { serviceAccount: ep.serviceAccount }) });
          }
        }
      }
    }
    if (next && this.#corroborateOnly.size > 0) {
      for (const [k, row] of next.endpoints) {
        if (row.provenance.every((p) => this.#corroborateOnly.has(p.provider))) next.endpoints.delete(k);
      }
    }
    const touched = new Set<string>([...(previous?.endpoints.keys() ?? []), ...(next?.endpoints.keys() ?? [])]);
    for (const address of touched) {
      const row = next?.endpoints.get(address);
      let claims = this.#claims.get(address);
      if (row) {
        if (!claims) this.#claims.set(address, (claims = new Map<ServiceKey, Set<string>>()));
        claims.set(key, new Set(row.provenance.map((p) => p.provider)));
      } else if (claims) {
        claims.delete(key);
        if (claims.size === 0) this.#claims.delete(address);
      }
      for (const party of this.#resolve(address, row ?? previous?.endpoints.get(address))) affected.add(party);
    }
    this.#endpointCount += (next?.endpoints.size ?? 0) - (previous?.endpoints.size ?? 0);
    if (next) {
      this.#settle(key, next);
      this.#services.set(key, next);
    } else {
      this.#services.delete(key);
      this.#disagreements.delete(key);
    }
    for (const party of affected) {
      this.#answers.delete(party);
      this.#reindexAccounts(party);
    }
    return affected;
  }

  /**
   * Resolves each row's protocol and account from the providers' declarations:
   * the highest-priority provider that declares one wins; providers that
   * disagree are recorded (GET /api/v1/catalog `disagreements`), never
   * silently dropped. Undeclared: http, and the service's own name.
   */
  #settle(key: ServiceKey, service: MergedService): void {
    const found: Disagreement[] = [];
    for (const row of service.endpoints.values()) {
      const protocol = resolveDeclarations(row.declarations, "protocol", this.#rank);
      row.protocol = protocol?.value ?? DEFAULT_APP_PROTOCOL;
      row.protocolFrom = protocol?.from;
      const account = resolveDeclarations(row.declarations, "serviceAccount", this.#rank);
      row.serviceAccount = account?.value ?? service.ref.name;
      row.serviceAccountFrom = account?.from;
      for (const [field, r] of [["protocol", protocol], ["serviceAccount", account]] as const) {
        if (r?.disagreement) found.push({ service: key, ip: row.ip, port: row.port, field, ...r.disagreement });
      }
    }
    found.sort((a, b) => compareStrings(a.ip, b.ip) || a.port - b.port || compareStrings(a.field, b.field));
    if (found.length > 0) this.#disagreements.set(key, found);
    else this.#disagreements.delete(key);
  }

  /** Keeps account → services current for one service whose effective endpoints may have changed. */
  #reindexAccounts(key: ServiceKey): void {
    const before = this.#accountsOf.get(key) ?? [];
    const namespace = this.#services.get(key)?.ref.namespace;
    const after = namespace === undefined ? [] : [...new Set((this.service(key)?.endpoints ?? []).map((e) => `${namespace}/${e.serviceAccount}`))].sort();
    if (before.length === after.length && before.every((a, i) => a === after[i])) return;
    for (const account of before) {
      if (after.includes(account)) continue;
      const set = this.#servicesByAccount.get(account);
      set?.delete(key);
      if (set?.size === 0) this.#servicesByAccount.delete(account);
      this.#changedAccounts.add(account);
    }
    for (const account of after) {
      if (before.includes(account)) continue;
      let set = this.#servicesByAccount.get(account);
      if (!set) this.#servicesByAccount.set(account, (set = new Set()));
      set.add(key);
      this.#changedAccounts.add(account);
    }
    if (after.length > 0) this.#accountsOf.set(key, after);
    else this.#accountsOf.delete(key);
  }

  /** `namespace/account` keys of the accounts this service's effective endpoints run as, sorted. */
  accountsOf(key: ServiceKey): readonly string[] {
    return this.#accountsOf.get(key) ?? [];
  }

  /** Services with at least one effective endpoint running as this account (`namespace/account`). */
  servicesOf(account: string): readonly ServiceKey[] {
    return [...(this.#servicesByAccount.get(account) ?? [])].sort();
  }

  /** Accounts whose services changed since the last call (for fan-out to the proxies that may call them). */
  takeChangedAccounts(): string[] {
    const out = [...this.#changedAccounts].sort();
    this.#changedAccounts.clear();
    return out;
  }

  /** Where one endpoint's protocol and account come from: the winning declaration's provider and source, if any. */
  declarationSources(key: ServiceKey, ip: string, port: number): { protocol: string | undefined; serviceAccount: string | undefined } {
    const row = this.#services.get(key)?.endpoints.get(addressKey(ip, port));
    return { protocol: row?.protocolFrom, serviceAccount: row?.serviceAccountFrom };
  }

  disagreements(): Disagreement[] {
    return [...this.#disagreements.values()].flat().sort((a, b) => compareStrings(a.service, b.service) || compareStrings(a.ip, b.ip) || a.port - b.port || compareStrings(a.field, b.field));
  }

  /** Re-evaluates the conflict on one address; returns the services involved before or after. */
  #resolve(address: string, sample: MergedEndpoint | undefined): ServiceKey[] {
    const claims = this.#claims.get(address);
    const before = this.#conflicts.get(address);
    const parties = new Set<ServiceKey>(before?.claims.map((c) => c.service) ?? []);
    if (!claims || claims.size < 2 || !sample) {
      this.#conflicts.delete(address);
      return [...parties];
    }
    const ranked = [...claims].map(([service, providers]) => ({
      service,
      sources: [...providers].sort(),
      rank: Math.min(...[...providers].map(this.#rank)),
    }));
    ranked.sort((a, b) => a.rank - b.rank || (a.service < b.service ? -1 : 1));
    const [first, second] = ranked as [(typeof ranked)[number], (typeof ranked)[number]];
    this.#conflicts.set(address, {
      ip: sample.ip,
      port: sample.port,
      claims: ranked.map(({ service, sources }) => ({ service, sources })),
      winner: first.service,
      resolution: first.rank < second.rank ? "priority" : "tie",
    });
    for (const r of ranked) parties.add(r.service);
    return [...parties];
  }

  /** Which services claim this IP:port, and through which providers (before conflict resolution). */
  claims(ip: string, port: number): Array<{ service: ServiceKey; providers: string[] }> {
    const claims = this.#claims.get(addressKey(ip, port));
    return claims ? [...claims].map(([service, providers]) => ({ service, providers: [...providers].sort() })) : [];
  }

  has(key: ServiceKey): boolean {
    return this.#services.has(key);
  }

  ref(key: ServiceKey): ServiceRef | undefined {
    return this.#services.get(key)?.ref;
  }

  /** Effective endpoints of one service: conflicts it lost are left out. Sorted by ip, port. */
  service(key: ServiceKey): CatalogService | undefined {
    const known = this.#answers.get(key);
    if (known !== undefined) return known;
    const merged = this.#services.get(key);
    if (!merged) return undefined;
    const endpoints: CatalogEndpoint[] = [];
    for (const [address, row] of merged.endpoints) {
      const conflict = this.#conflicts.get(address);
      if (conflict && conflict.winner !== key) continue;
      const provenance = [...row.provenance].sort((a, b) => compareStrings(a.provider, b.provider) || compareStrings(a.source, b.source));
      endpoints.push(Object.freeze({
        ip: row.ip, port: row.port, protocol: row.protocol, serviceAccount: row.serviceAccount,
        sources: Object.freeze([...new Set(provenance.map((p) => p.provider))]),
        provenance: Object.freeze(provenance.map((p) => Object.freeze(p))),
      }));
    }
    endpoints.sort((a, b) => compareStrings(a.ip, b.ip) || a.port - b.port);
    // Frozen because every caller until the next change shares it: a caller that sorted or edited it in place would throw, not corrupt the others.
    const answer: CatalogService = Object.freeze({ namespace: merged.ref.namespace, name: merged.ref.name, endpoints: Object.freeze(endpoints) });
    this.#answers.set(key, answer);
    return answer;
  }

  keys(): IterableIterator<ServiceKey> {
    return this.#services.keys();
  }

  /** Every service, sorted by namespace then name. O(mesh): for APIs, not for the update path. */
  services(): CatalogService[] {
    const refs = [...this.#services.values()].map((s) => s.ref).sort(compareServiceRefs);
    return refs.map((r) => this.service(`${r.namespace}/${r.name}`)!);
  }

  conflicts(): Conflict[] {
    return [...this.#conflicts.values()].sort((a, b) => compareStrings(a.ip, b.ip) || a.port - b.port);
  }

  get serviceCount(): number {
    return this.#services.size;
  }

  get endpointCount(): number {
    return this.#endpointCount;
  }

  get conflictCount(): number {
    return this.#conflicts.size;
  }
}
