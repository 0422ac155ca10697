/**
 * AdmissionReview (admission.k8s.io/v1) at the edge of the injector: parsing
 * with a clear reason for every refusal, and the response envelope. The API
 * server sends v1 only (admissionReviewVersions: [v1] in
 * config/kubernetes/webhook.yaml); anything else is a caller error, answered
 * as a denial the caller can read rather than a crash.
 */
import { z } from "zod";
import type { JsonPatchOp } from "../drivers/types.js";

export const ADMISSION_API_VERSION = "admission.k8s.io/v1";

const requestSchema = z.looseObject({
  uid: z.string().min(1),
  kind: z.looseObject({ group: z.string(), version: z.string(), kind: z.string() }),
  namespace: z.string().optional(),
  operation: z.string().min(1),
  object: z.unknown(),
  dryRun: z.boolean().optional(),
});

const reviewSchema = z.looseObject({
  apiVersion: z.literal(ADMISSION_API_VERSION, { error: `apiVersion must be ${ADMISSION_API_VERSION}` }),
  kind: z.literal("AdmissionReview", { error: "kind must be AdmissionReview" }),
  request: requestSchema,
});

export type AdmissionRequest = z.output<typeof requestSchema>;

export type ParsedReview =
  | { readonly ok: true; readonly request: AdmissionRequest }
  /** `uid` is set when it could be read: then the answer is a denial in a valid review, else HTTP 400. */
  | { readonly ok: false; readonly uid: string | undefined; readonly message: string };

export interface AdmissionResponse {
  readonly uid: string;
  readonly allowed: boolean;
  readonly patchType?: "JSONPatch";
  /** base64 of the JSON patch. */
  readonly patch?: string;
  readonly status?: { readonly code: number; readonly message: string };
  readonly warnings?: readonly string[];
}

export interface AdmissionReviewResponse {
  readonly apiVersion: typeof ADMISSION_API_VERSION;
  readonly kind: "AdmissionReview";
  readonly response: AdmissionResponse;
}

export function parseAdmissionReview(body: string): ParsedReview {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch (err) {
    return { ok: false, uid: undefined, message: `the body is not JSON: ${(err as Error).message}` };
  }
  const r = reviewSchema.safeParse(json);
  if (r.success) return { ok: true, request: r.data.request };
  const issue = r.error.issues[0];
  const where = issue === undefined || issue.path.length === 0 ? "" : `${issue.path.join(".")}: `;
  const message = `not a valid ${ADMISSION_API_VERSION} AdmissionReview: ${where}${issue?.message ?? "invalid"}`;
  return { ok: false, uid: readableUid(json), message };
}

function readableUid(json: unknown): string | undefined {
  if (json === null || typeof json !== "object") return undefined;
  const request = (json as { request?: unknown }).request;
  if (request === null || typeof request !== "object") return undefined;
  const uid = (request as { uid?: unknown }).uid;
  return typeof uid === "string" && uid !== "" ? uid : undefined;
}

export function review(response: AdmissionResponse): AdmissionReviewResponse {
  return { apiVersion: ADMISSION_API_VERSION, kind: "AdmissionReview", response };
}

/** Allowed; with a patch only when there is something to change (an empty patch is no patch). */
export function allow(uid: string, patch: readonly JsonPatchOp[] = [], warnings: readonly string[] = []): AdmissionReviewResponse {
  return review({
    uid,
    allowed: true,
    ...(patch.length > 0 ? { patchType: "JSONPatch" as const, patch: Buffer.from(JSON.stringify(patch)).toString("base64") } : {}),
    ...(warnings.length > 0 ? { warnings } : {}),
  });
}

export function deny(uid: string, message: string, code = 400): AdmissionReviewResponse {
  return review({ uid, allowed: false, status: { code, message } });
}
