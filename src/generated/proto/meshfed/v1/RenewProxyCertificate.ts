// Original file: proto/meshfed/v1/control_plane.proto


/**
 * Root CA rotation (docs/certificates.md): the controller asks the agent for
 * a CSR so that its proxy certificate is re-issued under the new root.
 */
export interface RenewProxyCertificate {
  'reason'?: (string);
}

/**
 * Root CA rotation (docs/certificates.md): the controller asks the agent for
 * a CSR so that its proxy certificate is re-issued under the new root.
 */
export interface RenewProxyCertificate__Output {
  'reason': (string);
}
