// Original file: proto/meshfed/v1/control_plane.proto


export interface AttestationNonceRequest {
  /**
   * The attestation the nonce is for: "azure-imds".
   */
  'method'?: (string);
}

export interface AttestationNonceRequest__Output {
  /**
   * The attestation the nonce is for: "azure-imds".
   */
  'method': (string);
}
