/**
 * Root CA rotation in the admin API (docs/certificates.md, "Rotating the
 * root CA"): `GET /api/v1/ca/rotation` shows the phase, the roots and what
 * still chains to each; `POST /api/v1/ca/rotation` takes one step. Steps are
 * leader-only work (docs/ha.md): another replica refuses with
 * MESHFED_NOT_LEADER naming the leader, rather than forwarding, so that the
 * operator sees which replica acted. (`GET /api/v1/ca` stays the PEM bundle.)
 */
import { z } from "zod";
import { MeshfedError } from "../../common/errors.js";
import type { CaRotationStatus, RotationStep } from "../certificates/index.js";
import { readJsonBody } from "./body.js";
import { json, type AdminRouter } from "./router.js";

const stepSchema = z.strictObject({
  action: z.enum(["introduce", "reissue", "retire"]),
  force: z.boolean().default(false),
});

export interface CaRouteSources {
  readonly certificates: {
    caRotation(): CaRotationStatus;
    rotateCa(step: RotationStep, options: { force?: boolean }): Promise<CaRotationStatus>;
  };
  readonly leadership: { isLeader(): boolean; leaderId(): string | undefined; readonly replicaId: string };
}

export function addCaRoutes(router: AdminRouter, sources: CaRouteSources): AdminRouter {
  return router
    .add("GET", "/api/v1/ca/rotation", () => json(sources.certificates.caRotation()))
    .add("POST", "/api/v1/ca/rotation", async (req) => {
      const body = await readJsonBody(req, stepSchema);
      const { leadership } = sources;
      if (!leadership.isLeader()) {
        const leader = leadership.leaderId();
        throw new MeshfedError("MESHFED_NOT_LEADER",
          `CA rotation is leader-only work and replica ${leadership.replicaId} does not lead; ${leader === undefined ? "no leader is known yet, retry shortly" : `ask replica ${leader}`}`,
          { details: { status: 409, leaderId: leader ?? null } });
      }
      return json(await sources.certificates.rotateCa(body.action, { force: body.force }));
    });
}
