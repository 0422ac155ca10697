// Original file: proto/meshfed/v1/control_plane.proto


export interface EnrollRequest {
  'token'?: (string);
  /**
   * PEM PKCS#10, P-256 key generated on the agent; the key never leaves it.
   */
  'csrPem'?: (string);
  'agentVersion'?: (string);
  'hostname'?: (string);
}

export interface EnrollRequest__Output {
  'token': (string);
  /**
   * PEM PKCS#10, P-256 key generated on the agent; the key never leaves it.
   */
  'csrPem': (string);
  'agentVersion': (string);
  'hostname': (string);
}
