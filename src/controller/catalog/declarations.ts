/**
 * What providers declare about one endpoint beyond its address (its port's
 * protocol, the account it runs as) and how several declarations become one:
 * the highest-priority provider that declares a value wins, as for IP:port
 * conflicts (DESIGN.md §3 flow 1); a provider that says nothing never
 * disagrees. Different values are returned as a disagreement to report.
 */
import type { AppProtocol } from "../../common/app-protocol.js";

export interface Declaration {
  readonly provider: string;
  readonly source: string;
  readonly protocol?: AppProtocol;
  readonly serviceAccount?: string;
}

export interface ResolvedDeclaration {
  readonly value: string;
  /** `<provider> <source>` of the winning declaration. */
  readonly from: string;
  readonly disagreement?: {
    readonly claims: ReadonlyArray<{ readonly value: string; readonly sources: readonly string[] }>;
    readonly winner: string;
    readonly resolution: "priority" | "tie";
  };
}

export function resolveDeclarations<F extends "protocol" | "serviceAccount">(
  declarations: readonly Declaration[],
  field: F,
  rank: (provider: string) => number,
): (ResolvedDeclaration & { value: NonNullable<Declaration[F]> }) | undefined {
  const byValue = new Map<string, { rank: number; providers: Set<string>; from: string }>();
  for (const d of declarations) {
    const value = d[field];
    if (value === undefined) continue;
    const r = rank(d.provider);
    const slot = byValue.get(value);
    if (!slot) byValue.set(value, { rank: r, providers: new Set([d.provider]), from: `${d.provider} ${d.source}` });
    else {
      slot.providers.add(d.provider);
      if (r < slot.rank) Object.assign(slot, { rank: r, from: `${d.provider} ${d.source}` });
    }
  }
  if (byValue.size === 0) return undefined;
  // Best rank first; equal ranks by value, so a tie is at least deterministic.
  const ranked = [...byValue].sort(([va, a], [vb, b]) => a.rank - b.rank || (va < vb ? -1 : va > vb ? 1 : 0));
  const [winnerValue, winner] = ranked[0]!;
  const value = winnerValue as NonNullable<Declaration[F]>;
  if (ranked.length === 1) return { value, from: winner.from };
  return {
    value,
    from: winner.from,
    disagreement: {
      claims: ranked.map(([v, slot]) => ({ value: v, sources: [...slot.providers].sort() })),
      winner: winnerValue,
      resolution: winner.rank < ranked[1]![1].rank ? "priority" : "tie",
    },
  };
}
