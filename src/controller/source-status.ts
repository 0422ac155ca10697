/**
 * The status every source of the controller reports (endpoint providers, the
 * mesh spec stores, MeshConfig): the admin API's `/api/v1/providers` rows and
 * readiness. A module of its own so that providers and the spec share it
 * without importing each other (test/unit/import-rules.test.ts).
 */
export type ProviderState = "starting" | "synced" | "degraded" | "stopped";

export interface ProviderError {
  readonly code: string;
  readonly message: string;
  readonly at: string;
  /** Where the bad input is, when it is a file. */
  readonly file?: string;
  readonly line?: number;
  readonly column?: number;
}

export interface ProviderStatus {
  readonly id: string;
  readonly kind: "endpoints" | "spec";
  readonly state: ProviderState;
  /** ISO time of the last successful full sync (or reload). */
  readonly lastSync: string | null;
  readonly lastError: ProviderError | null;
  readonly counts: Readonly<Record<string, number>>;
}
