/**
 * The JSON IMDS signs (docs/azure.md "Joining without a token"):
 * `{ nonce, plan, timeStamp: { createdOn, expiresOn }, vmId, licenseType,
 * subscriptionId, sku }`, the times as "MM/DD/YY HH:MM:SS -0000" (UTC).
 * Fields we do not use are allowed and ignored: Azure adds some over time.
 */
import { z } from "zod";
import { errorMessage } from "../../common/errors.js";
import { ATTEST_ERRORS, attestError } from "./errors.js";

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const documentSchema = z.looseObject({
  nonce: z.string().min(1).max(64),
  vmId: z.string().regex(GUID, "not a GUID"),
  subscriptionId: z.string().regex(GUID, "not a GUID"),
  sku: z.string().optional(),
  timeStamp: z.looseObject({ createdOn: z.string(), expiresOn: z.string() }),
});

export interface AttestedClaims {
  readonly nonce: string;
  /** Lower-cased. */
  readonly vmId: string;
  readonly subscriptionId: string;
  readonly sku: string | undefined;
  readonly createdOn: Date;
  readonly expiresOn: Date;
}

export function parseAttestedClaims(content: Buffer): AttestedClaims {
  let raw: unknown;
  try {
    raw = JSON.parse(content.toString("utf8"));
  } catch (err) {
    throw attestError(ATTEST_ERRORS.malformed, `the signed content is not JSON: ${errorMessage(err)}`, err);
  }
  const parsed = documentSchema.safeParse(raw);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    throw attestError(ATTEST_ERRORS.malformed, `the signed document lacks a usable ${first?.path.join(".") || "field"}: ${first?.message ?? "invalid"}`);
  }
  const d = parsed.data;
  const createdOn = parseImdsTime(d.timeStamp.createdOn);
  const expiresOn = parseImdsTime(d.timeStamp.expiresOn);
  if (createdOn === undefined || expiresOn === undefined) {
    throw attestError(ATTEST_ERRORS.malformed, `the document's timeStamp ${JSON.stringify(d.timeStamp)} is not "MM/DD/YY HH:MM:SS -0000"`);
  }
  return { nonce: d.nonce, vmId: d.vmId.toLowerCase(), subscriptionId: d.subscriptionId.toLowerCase(), sku: d.sku, createdOn, expiresOn };
}

const IMDS_TIME = /^(\d{2})\/(\d{2})\/(\d{2}) (\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})$/;

/** "11/28/18 00:16:17 -0000" → that instant; undefined when it is not that format or not a real date. */
export function parseImdsTime(text: string): Date | undefined {
  const m = IMDS_TIME.exec(text.trim());
  if (!m) return undefined;
  const [mo, d, y, h, mi, s, sign, oh, om] = m.slice(1).map((x, i) => (i === 6 ? x : Number(x))) as [number, number, number, number, number, number, string, number, number];
  const utc = Date.UTC(2000 + y, mo - 1, d, h, mi, s);
  const date = new Date(utc - (sign === "-" ? -1 : 1) * (oh * 60 + om) * 60_000);
  // Date.UTC rolls 02/30 over to March: refuse what is not a calendar date.
  const check = new Date(Date.UTC(2000 + y, mo - 1, d));
  if (check.getUTCMonth() !== mo - 1 || check.getUTCDate() !== d || h > 23 || mi > 59 || s > 59) return undefined;
  return date;
}

/** The IMDS format of `date` (UTC), for the fake IMDS and tests. */
export function formatImdsTime(date: Date): string {
  const p = (n: number) => String(n).padStart(2, "0");
  return `${p(date.getUTCMonth() + 1)}/${p(date.getUTCDate())}/${p(date.getUTCFullYear() % 100)} ${p(date.getUTCHours())}:${p(date.getUTCMinutes())}:${p(date.getUTCSeconds())} -0000`;
}
