/**
 * Root CA rotation without downtime (docs/certificates.md, "Rotating the
 * root CA"): introduce → reissue → retire, each one compare-and-put of
 * `ca/rotation.json` (rotation-state.ts) plus work that is safe to repeat.
 *
 * Crash safety — a kill between any two store writes restarts correctly:
 *  - introduce writes the new root's key, then its certificate (ca.ts: a key
 *    without certificate is self-signed again on the next try), then the
 *    state. Killed before the state: the new root is an orphan directory
 *    nobody trusts; the phase is unchanged and introduce can run again.
 *  - reissue writes the state, then re-issues held certificates. Killed in
 *    between: the phase is reissuing, so the signer is the new root; stored
 *    service certificates not signed by it are replaced when next fetched,
 *    agents are asked to renew when they connect, and the leader repeats the
 *    sweep (`resume`) on start and on taking the lead.
 *  - retire revokes stragglers (only when forced), then writes the state,
 *    then deletes the old root's key. Killed before the state: the phase is
 *    still reissuing and retire can run again (the revocations are
 *    idempotent). Killed before the delete: the retired key stays in the
 *    store, unused by anything (delete `<dir>/key.pem` by hand).
 *
 * The controller's own serving certificates (agent port, Pipy repo, webhook)
 * stay under the established root until retire, then move to the new one:
 * until then every client trusts the established root, including one that
 * missed the new bundle (an agent offline during introduce, a pod whose
 * bootstrap Secret predates it), which can therefore still connect, get the
 * bundle and renew. They are not stragglers: retire moves them itself.
 * No step ever overwrites a root: roots are only created (create-if-absent)
 * and the state only moves which directory is which.
 */
import { randomBytes } from "node:crypto";
import type { Logger } from "../../common/logger.js";
import type { CaRoots, RootInfo } from "./ca-roots.js";
import { FIRST_ROOT } from "./ca.js";
import { CERT_ERROR, certError } from "./errors.js";
import {
  CA_ROTATION_KEY, NEXT_STEP, serializeRotationState, type RotationPhase, type RotationState, type RotationStep,
} from "./rotation-state.js";
import type { CertificateKind, CertificateRecord } from "./types.js";

/** How many stragglers an answer lists by serial; the count is always complete. */
const LISTED_STRAGGLERS = 100;

export interface Straggler {
  readonly serial: string;
  readonly kind: CertificateKind;
  readonly service: string;
  readonly proxyId?: string;
  readonly state: CertificateRecord["state"];
}

/** `GET /api/v1/ca/rotation`; field names are a contract. */
export interface CaRotationStatus {
  readonly phase: RotationPhase;
  /** The step that moves the rotation on from here. */
  readonly nextStep: RotationStep;
  readonly changedAt: string | null;
  readonly roots: ReadonlyArray<RootInfo & { readonly liveCertificates: Readonly<Record<CertificateKind, number>> }>;
  readonly retired: { readonly serial: string; readonly notAfter: string; readonly retiredAt: string } | null;
  /** Live certificates that do not chain to the incoming root; retire waits for them. */
  readonly stragglerCount: number;
  readonly stragglers: readonly Straggler[];
}

export interface CaRotationDeps {
  readonly roots: CaRoots;
  readonly logger: Logger;
  readonly now: () => Date;
  /** The registry with states as of now. */
  certificates(): readonly CertificateRecord[];
  revoke(serial: string, reason: string): Promise<CertificateRecord>;
  /** Replaces the service certificates the controller holds with ones from the signing root. */
  reissueHeld(): Promise<void>;
}

export class CaRotation {
  readonly #d: CaRotationDeps;

  constructor(deps: CaRotationDeps) {
    this.#d = deps;
  }

  /** The root that signed a record: its `ca`, or the first root for records older than rotation. */
  rootOf(record: CertificateRecord): string | undefined {
    if (record.ca !== undefined) return record.ca;
    const { root, next } = this.#d.roots;
    return [root, next].find((ca) => ca?.dir === FIRST_ROOT.dir)?.serial;
  }

  status(): CaRotationStatus {
    const { roots } = this.#d;
    const live = this.#live();
    const stragglers = this.#stragglers(live);
    const state = roots.stored.state;
    return {
      phase: roots.phase,
      nextStep: NEXT_STEP[roots.phase],
      changedAt: state?.changedAt ?? null,
      roots: roots.roots().map((info) => {
        const counts: Record<CertificateKind, number> = { proxy: 0, service: 0, controller: 0 };
        for (const r of live) if (this.rootOf(r) === info.serial) counts[r.kind] += 1;
        return { ...info, liveCertificates: counts };
      }),
      retired: state?.retired ?? null,
      stragglerCount: stragglers.length,
      stragglers: stragglers.slice(0, LISTED_STRAGGLERS).map(straggler),
    };
  }

  async step(step: RotationStep, options: { force?: boolean } = {}): Promise<CaRotationStatus> {
    switch (step) {
      case "introduce":
        return this.#introduce();
      case "reissue":
        return this.#reissue();
      case "retire":
        return this.#retire(options.force === true);
    }
  }

  /** Repeats the reissue sweep when a rotation is in that phase (leader start, leader change). */
  async resume(): Promise<void> {
    await this.#d.roots.reload();
    if (this.#d.roots.phase === "reissuing") await this.#d.reissueHeld();
  }

  async #introduce(): Promise<CaRotationStatus> {
    const { roots, logger } = this.#d;
    await roots.reload();
    if (roots.phase === "introduced") return this.status();
    this.#expect(["none", "retired"], "introduce");
    const { state } = roots.stored;
    const ca = await roots.createRoot(randomBytes(6).toString("hex"));
    await this.#write({ phase: "introduced", root: state?.root ?? FIRST_ROOT.dir, next: ca.dir, ...(state?.retired ? { retired: state.retired } : {}), changedAt: this.#d.now().toISOString() });
    logger.info({ step: "introduce", next: ca.serial, notAfter: ca.notAfter.toISOString() }, "CA rotation: new root introduced; bundles now carry both roots");
    return this.status();
  }

  async #reissue(): Promise<CaRotationStatus> {
    const { roots, logger } = this.#d;
    await roots.reload();
    if (roots.phase !== "reissuing") {
      this.#expect(["introduced"], "reissue");
      const state = roots.stored.state!;
      await this.#write({ ...state, phase: "reissuing", changedAt: this.#d.now().toISOString() });
      logger.info({ step: "reissue", signer: roots.signer.serial }, "CA rotation: the new root signs; re-issuing certificates");
    }
    await this.#d.reissueHeld();
    return this.status();
  }

  async #retire(force: boolean): Promise<CaRotationStatus> {
    const { roots, logger } = this.#d;
    await roots.reload();
    if (roots.phase === "retired") return this.status();
    this.#expect(["reissuing"], "retire");
    const stragglers = this.#stragglers(this.#live());
    const outgoing = roots.root;
    if (stragglers.length > 0 && !force) {
      const listed = stragglers.slice(0, 10).map((r) => `${r.kind} ${r.serial}${r.proxyId ? ` (proxy ${r.proxyId})` : ""}`).join(", ");
      throw certError(CERT_ERROR.caRotationStragglers,
        `${stragglers.length} live certificate(s) still chain to root ${outgoing.serial}: ${listed}${stragglers.length > 10 ? ", …" : ""}; wait for their proxies to renew, revoke them, or retire with force`,
        { details: { status: 409, stragglerCount: stragglers.length, stragglers: stragglers.slice(0, LISTED_STRAGGLERS).map(straggler) } });
    }
    for (const r of stragglers) {
      await this.#d.revoke(r.serial, `its root CA ${outgoing.serial} was retired (forced) before it was renewed`);
    }
    // Judged while the outgoing root is still loaded (records older than rotation name no root).
    const oldServing = this.#live().filter((r) => r.kind === "controller" && this.rootOf(r) === outgoing.serial);
    const state = roots.stored.state!;
    const retiredAt = this.#d.now().toISOString();
    await this.#write({ phase: "retired", root: state.next!, retired: { serial: outgoing.serial, notAfter: outgoing.notAfter.toISOString(), retiredAt }, changedAt: retiredAt });
    logger.info({ step: "retire", retired: outgoing.serial, current: roots.signer.serial, forced: stragglers.length }, "CA rotation: old root retired; bundles carry the new root only");
    // Serving certificates follow the established root (reloaded on the change above); the old ones are done.
    for (const r of oldServing) {
      await this.#d.revoke(r.serial, `superseded: its root CA ${outgoing.serial} was retired`).catch((err: unknown) => logger.warn({ err, serial: r.serial }, "could not revoke a retired root's controller certificate"));
    }
    // The retired key signs nothing any more; leaving it in the store would only be a risk.
    // Its certificate stays, for the record.
    await roots.store.delete(`${outgoing.dir}/key.pem`).catch((err: unknown) => logger.warn({ err, key: `${outgoing.dir}/key.pem` }, "could not delete the retired root's key; delete it by hand"));
    return { ...this.status(), stragglers: stragglers.slice(0, LISTED_STRAGGLERS).map(straggler), stragglerCount: stragglers.length };
  }

  #expect(phases: readonly RotationPhase[], step: RotationStep): void {
    const phase = this.#d.roots.phase;
    if (phases.includes(phase)) return;
    throw certError(CERT_ERROR.caRotationPhase, `cannot ${step} in phase "${phase}"; the next step is "${NEXT_STEP[phase]}"`, { details: { status: 409, phase } });
  }

  /** One compare-and-put against the bytes the step judged; then this replica reloads at once. */
  async #write(state: RotationState): Promise<void> {
    const { roots } = this.#d;
    const { bytes } = roots.stored;
    const text = serializeRotationState(state);
    const written = bytes === undefined ? await roots.store.create(CA_ROTATION_KEY, text) : await roots.store.compareAndPut(CA_ROTATION_KEY, bytes, text);
    if (!written) throw certError(CERT_ERROR.caRotationConflict, `${CA_ROTATION_KEY} changed during the step (another replica?); check the status and retry`, { details: { status: 409 } });
    await roots.reload();
  }

  #live(): CertificateRecord[] {
    return this.#d.certificates().filter((r) => r.state === "claimed" || r.state === "unclaimed");
  }

  /** While a rotation runs: live proxy and service certificates not signed by the incoming root. */
  #stragglers(live: readonly CertificateRecord[]): CertificateRecord[] {
    const incoming = this.#d.roots.next?.serial;
    if (incoming === undefined) return [];
    return live.filter((r) => r.kind !== "controller" && this.rootOf(r) !== incoming);
  }
}

function straggler(r: CertificateRecord): Straggler {
  return { serial: r.serial, kind: r.kind, service: r.service, ...(r.proxyId !== undefined ? { proxyId: r.proxyId } : {}), state: r.state };
}
