/**
 * The agent's door to @peculiar/x509 (its own, so the agent imports nothing
 * of the controller): the Reflect metadata polyfill must load before the
 * library evaluates, and Node's WebCrypto is passed explicitly to each call
 * rather than installed as the library's global provider.
 */
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { webcrypto } from "node:crypto";

export { x509 };
export const crypto: webcrypto.Crypto = webcrypto;
export type CryptoKeyPair = webcrypto.CryptoKeyPair;

/** notAfter of the first certificate in a PEM bundle, as RFC 3339; undefined when unreadable. */
export function certificateNotAfter(pem: string): string | undefined {
  try {
    return new x509.X509Certificate(pem).notAfter.toISOString();
  } catch {
    return undefined;
  }
}
