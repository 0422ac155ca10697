// Original file: proto/meshfed/v1/control_plane.proto


export interface ServiceCertificate {
  'serial'?: (string);
  'certificatePem'?: (string);
  'privateKeyPem'?: (string);
  'caBundlePem'?: (string);
  /**
   * RFC 3339
   */
  'notAfter'?: (string);
  /**
   * RFC 3339; a newer one is pushed before this passes
   */
  'renewAt'?: (string);
}

export interface ServiceCertificate__Output {
  'serial': (string);
  'certificatePem': (string);
  'privateKeyPem': (string);
  'caBundlePem': (string);
  /**
   * RFC 3339
   */
  'notAfter': (string);
  /**
   * RFC 3339; a newer one is pushed before this passes
   */
  'renewAt': (string);
}
