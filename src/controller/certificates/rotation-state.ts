/**
 * The root CA rotation state (docs/certificates.md, "Rotating the root CA"):
 * one store value, `ca/rotation.json`, that says which stored root is established (`root`),
 * which one is being introduced, and how far the rotation got. It is the only
 * thing a step changes besides creating a new root, and it is changed only by
 * compare-and-put, so every step is one atomic write that all replicas see.
 *
 *   (absent) = "none": one root, stored in `ca/` (the first root).
 *   introduced: `next` is stored; bundles carry both roots; `root` signs.
 *   reissuing:  bundles carry both roots; `next` signs; certificates under
 *               `root` are being replaced.
 *   retired:    `root` is the former `next`; the old root is out of every
 *               bundle; `retired` remembers which it was. Same as "none" for
 *               everything but the status shown.
 */
import { z } from "zod";
import { CERT_ERROR, certError } from "./errors.js";

export const CA_ROTATION_KEY = "ca/rotation.json";
/** Roots created by a rotation live under `ca/roots/<id>/`. */
export const ROOTS_DIR = "ca/roots";

export type RotationPhase = "none" | "introduced" | "reissuing" | "retired";
export type RotationStep = "introduce" | "reissue" | "retire";

const ROOT_DIR = /^ca(\/roots\/[a-z0-9]{8,32})?$/;
const timestamp = z.string().refine((s) => !Number.isNaN(Date.parse(s)), "not a timestamp");
const dir = z.string().regex(ROOT_DIR, "not a root directory (ca or ca/roots/<id>)");

const StateSchema = z.strictObject({
  phase: z.enum(["introduced", "reissuing", "retired"]),
  root: dir,
  next: dir.optional(),
  retired: z.strictObject({ serial: z.string().regex(/^[0-9a-f]{1,40}$/), notAfter: timestamp, retiredAt: timestamp }).optional(),
  changedAt: timestamp,
}).refine((s) => (s.phase === "retired") === (s.next === undefined), "introduced and reissuing name a next root; retired does not")
  .refine((s) => s.next !== s.root, "next and root must differ");

export type RotationState = z.infer<typeof StateSchema>;

/** The state as read, with the exact bytes a compare-and-put must be given. */
export interface StoredRotation {
  readonly state: RotationState | undefined;
  readonly bytes: Uint8Array | undefined;
}

export function phaseOf(state: RotationState | undefined): RotationPhase {
  return state?.phase ?? "none";
}

/** An unreadable state is fatal: guessing which root is current could re-key the mesh. */
export function parseRotationState(bytes: Uint8Array): RotationState {
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(bytes).toString("utf8"));
  } catch (err) {
    throw certError(CERT_ERROR.caRotationCorrupt, `${CA_ROTATION_KEY} is not JSON; restore it (it names the current root CA)`, { cause: err });
  }
  const parsed = StateSchema.safeParse(json);
  if (!parsed.success) throw certError(CERT_ERROR.caRotationCorrupt, `${CA_ROTATION_KEY}: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

export function serializeRotationState(state: RotationState): string {
  return `${JSON.stringify(StateSchema.parse(state), null, 2)}\n`;
}

/** The step that leads out of each phase, for error messages. */
export const NEXT_STEP: Readonly<Record<RotationPhase, RotationStep>> = {
  none: "introduce", retired: "introduce", introduced: "reissue", reissuing: "retire",
};
