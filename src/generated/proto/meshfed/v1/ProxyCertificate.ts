// Original file: proto/meshfed/v1/control_plane.proto


/**
 * The renewed proxy certificate for the key of the last ProxyCsr, or why it
 * was refused (error_code set, the other fields empty; the agent keeps its
 * current certificate). The agent stores key and certificate together, then
 * reconnects with them; the controller then revokes the certificate they replace.
 */
export interface ProxyCertificate {
  'serial'?: (string);
  'certificatePem'?: (string);
  'caBundlePem'?: (string);
  /**
   * RFC 3339
   */
  'notAfter'?: (string);
  /**
   * e.g. MESHFED_CSR_BAD_SIGNATURE, MESHFED_RENEWAL_NOT_REQUESTED
   */
  'errorCode'?: (string);
  'error'?: (string);
}

/**
 * The renewed proxy certificate for the key of the last ProxyCsr, or why it
 * was refused (error_code set, the other fields empty; the agent keeps its
 * current certificate). The agent stores key and certificate together, then
 * reconnects with them; the controller then revokes the certificate they replace.
 */
export interface ProxyCertificate__Output {
  'serial': (string);
  'certificatePem': (string);
  'caBundlePem': (string);
  /**
   * RFC 3339
   */
  'notAfter': (string);
  /**
   * e.g. MESHFED_CSR_BAD_SIGNATURE, MESHFED_RENEWAL_NOT_REQUESTED
   */
  'errorCode': (string);
  'error': (string);
}
