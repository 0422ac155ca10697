// Original file: proto/meshfed/v1/control_plane.proto


export interface AzureAttestedDocument {
  /**
   * The nonce the agent asked IMDS to sign (the one AttestationNonce gave).
   */
  'nonce'?: (string);
  /**
   * IMDS's answer, as received: "pkcs7" and the base64 DER CMS SignedData.
   */
  'encoding'?: (string);
  'signature'?: (string);
}

export interface AzureAttestedDocument__Output {
  /**
   * The nonce the agent asked IMDS to sign (the one AttestationNonce gave).
   */
  'nonce': (string);
  /**
   * IMDS's answer, as received: "pkcs7" and the base64 DER CMS SignedData.
   */
  'encoding': (string);
  'signature': (string);
}
