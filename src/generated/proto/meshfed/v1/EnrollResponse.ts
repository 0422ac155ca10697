// Original file: proto/meshfed/v1/control_plane.proto


export interface EnrollResponse {
  /**
   * UUID chosen by the controller
   */
  'proxyId'?: (string);
  'serviceNamespace'?: (string);
  'serviceName'?: (string);
  /**
   * the proxy certificate (state: unclaimed)
   */
  'certificatePem'?: (string);
  'caBundlePem'?: (string);
  /**
   * RFC 3339
   */
  'notAfter'?: (string);
}

export interface EnrollResponse__Output {
  /**
   * UUID chosen by the controller
   */
  'proxyId': (string);
  'serviceNamespace': (string);
  'serviceName': (string);
  /**
   * the proxy certificate (state: unclaimed)
   */
  'certificatePem': (string);
  'caBundlePem': (string);
  /**
   * RFC 3339
   */
  'notAfter': (string);
}
