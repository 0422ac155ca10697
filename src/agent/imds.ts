/**
 * Azure's Instance Metadata Service, for the attested document the agent
 * enrolls with when it has no join token (`bootstrap: azure-imds`, docs/azure.md
 * "Joining without a token").
 *
 * IMDS is a link-local address answered by the host the VM runs on: the
 * request goes directly (node:http with no agent, so no HTTP proxy of the
 * environment can ever see or answer it), with the `Metadata: true` header
 * IMDS requires and a short timeout (it answers in milliseconds or not at
 * all). The base URL is fixed unless the operator overrides it (tests).
 */
import { request } from "node:http";
import { z } from "zod";
import { errorMessage, MeshfedError } from "../common/errors.js";

export const IMDS_BASE_URL = "http://169.254.169.254";
export const IMDS_API_VERSION = "2020-09-01";
const MAX_BODY = 64 * 1024;

const answerSchema = z.looseObject({ encoding: z.string(), signature: z.string().min(1) });

export interface AttestedDocument {
  readonly encoding: string;
  readonly signature: string;
}

export interface FetchAttestedOptions {
  readonly nonce: string;
  readonly baseUrl?: string;
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

/** GET /metadata/attested/document; rejects with MESHFED_AGENT_IMDS_UNAVAILABLE (transient) on any failure. */
export function fetchAttestedDocument(o: FetchAttestedOptions): Promise<AttestedDocument> {
  const url = new URL(`/metadata/attested/document?api-version=${IMDS_API_VERSION}&nonce=${encodeURIComponent(o.nonce)}`, o.baseUrl ?? IMDS_BASE_URL);
  if (url.protocol !== "http:") return Promise.reject(new MeshfedError("MESHFED_AGENT_IMDS_UNAVAILABLE", `IMDS is reached over http://, not ${url.protocol}`));
  const fail = (why: string, cause?: unknown) => new MeshfedError("MESHFED_AGENT_IMDS_UNAVAILABLE", `Azure IMDS at ${url.origin}: ${why}`, cause === undefined ? {} : { cause });
  return new Promise<AttestedDocument>((resolve, reject) => {
    const req = request(url, { method: "GET", headers: { Metadata: "true" }, agent: false, timeout: o.timeoutMs ?? 3_000, ...(o.signal ? { signal: o.signal } : {}) }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (c: Buffer) => {
        size += c.length;
        if (size > MAX_BODY) req.destroy(fail(`answer larger than ${MAX_BODY} bytes`));
        else chunks.push(c);
      });
      res.on("end", () => {
        const body = Buffer.concat(chunks).toString("utf8");
        if (res.statusCode !== 200) return reject(fail(`HTTP ${res.statusCode}: ${body.slice(0, 200)}`));
        try {
          const parsed = answerSchema.parse(JSON.parse(body));
          resolve({ encoding: parsed.encoding, signature: parsed.signature });
        } catch (err) {
          reject(fail(`the answer is not {"encoding","signature"} JSON: ${errorMessage(err)}`, err));
        }
      });
      res.on("error", (err) => reject(fail(errorMessage(err), err)));
    });
    req.on("timeout", () => req.destroy(fail(`no answer within ${o.timeoutMs ?? 3_000} ms (is this an Azure VM?)`)));
    req.on("error", (err) => reject(err instanceof MeshfedError ? err : fail(errorMessage(err), err)));
    req.end();
  });
}
