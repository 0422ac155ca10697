// Original file: proto/meshfed/v1/control_plane.proto


/**
 * The answer to RenewProxyCertificate: a CSR for a NEW key generated on the
 * agent (the key never leaves the host). Empty subject or the proxy's CN, no
 * other SANs than its identity, as for Enroll. Refused unless asked for.
 */
export interface ProxyCsr {
  'csrPem'?: (string);
}

/**
 * The answer to RenewProxyCertificate: a CSR for a NEW key generated on the
 * agent (the key never leaves the host). Empty subject or the proxy's CN, no
 * other SANs than its identity, as for Enroll. Refused unless asked for.
 */
export interface ProxyCsr__Output {
  'csrPem': (string);
}
