/**
 * Proxy certificate renewal over the Connect stream, used by a root CA
 * rotation (docs/certificates.md, "Rotating the root CA"). The controller
 * asks (RenewProxyCertificate); the agent answers with a CSR for a new key
 * (ProxyCsr); the controller issues under the signing root and answers with
 * ProxyCertificate. The identity comes from the stream's verified client
 * certificate, never from the CSR, and a CSR is accepted only as the answer
 * to a request: one request, one certificate, so a proxy cannot mint
 * certificates at will. A refused CSR changes nothing: the agent keeps the
 * certificate it has and is asked again when it next connects.
 */
import type { Logger } from "pino";
import { errorCode, errorMessage } from "../../common/errors.js";
import { serviceKey } from "../../common/service.js";
import { CERT_ERROR } from "../certificates/errors.js";
import type { CertificateManager } from "../certificates/types.js";
import type { ProxySession } from "./session.js";

const REASON = "the mesh's root CA is being rotated: renew the proxy certificate under the new root";

export class ProxyRenewal {
  readonly #certificates: Pick<CertificateManager, "needsRenewal" | "issueProxyCertificate">;
  readonly #log: Logger;
  /** Sessions asked for a CSR that have not answered yet. */
  readonly #asked = new WeakSet<ProxySession>();

  constructor(certificates: Pick<CertificateManager, "needsRenewal" | "issueProxyCertificate">, logger: Logger) {
    this.#certificates = certificates;
    this.#log = logger;
  }

  /** Asks the session's agent to renew when its certificate is from the root being replaced. */
  requestIfDue(session: ProxySession): void {
    if (session.ended || this.#asked.has(session) || !this.#certificates.needsRenewal(session.identity.serial)) return;
    this.#asked.add(session);
    session.requestProxyRenewal(REASON);
    this.#log.info({ proxyId: session.identity.proxyId, serial: session.identity.serial }, "asked the proxy to renew its certificate (CA rotation)");
  }

  async onCsr(session: ProxySession, csrPem: string): Promise<void> {
    const { proxyId, service, serial, serviceAccount } = session.identity;
    if (!this.#asked.delete(session)) {
      this.#refuse(session, CERT_ERROR.renewalNotRequested, "the controller did not ask this proxy to renew its certificate");
      return;
    }
    try {
      const issued = await this.#certificates.issueProxyCertificate(csrPem, { proxyId, kind: "agent", service, ...(serviceAccount === undefined ? {} : { serviceAccount }) });
      session.sendProxyCertificate({ serial: issued.record.serial, certificatePem: issued.certificatePem, caBundlePem: issued.caBundlePem, notAfter: issued.record.notAfter, errorCode: "", error: "" });
      this.#log.info({ proxyId, service: serviceKey(service), replaces: serial, serial: issued.record.serial }, "proxy certificate renewed over the stream");
    } catch (err) {
      this.#refuse(session, errorCode(err), errorMessage(err));
    }
  }

  #refuse(session: ProxySession, code: string, message: string): void {
    this.#log.warn({ proxyId: session.identity.proxyId, code, reason: message }, "proxy certificate renewal refused");
    session.sendProxyCertificate({ serial: "", certificatePem: "", caBundlePem: "", notAfter: "", errorCode: code, error: message });
  }
}
