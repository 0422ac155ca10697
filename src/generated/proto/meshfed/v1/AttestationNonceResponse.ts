// Original file: proto/meshfed/v1/control_plane.proto


export interface AttestationNonceResponse {
  'nonce'?: (string);
  /**
   * RFC 3339
   */
  'expiresAt'?: (string);
}

export interface AttestationNonceResponse__Output {
  'nonce': (string);
  /**
   * RFC 3339
   */
  'expiresAt': (string);
}
