// Original file: proto/meshfed/v1/control_plane.proto


export interface Shutdown {
  /**
   * e.g. MESHFED_CERT_REVOKED, MESHFED_REPLACED, MESHFED_CONTROLLER_STOPPING
   */
  'code'?: (string);
  'reason'?: (string);
  /**
   * true: do not reconnect with this certificate (revoked); false: reconnect with backoff.
   */
  'permanent'?: (boolean);
}

export interface Shutdown__Output {
  /**
   * e.g. MESHFED_CERT_REVOKED, MESHFED_REPLACED, MESHFED_CONTROLLER_STOPPING
   */
  'code': (string);
  'reason': (string);
  /**
   * true: do not reconnect with this certificate (revoked); false: reconnect with backoff.
   */
  'permanent': (boolean);
}
