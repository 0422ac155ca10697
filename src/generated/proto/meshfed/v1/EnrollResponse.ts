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
  /**
   * The identity the proxy runs as: a ServiceAccount name in the service's
   * namespace (from the join token; the service's name when the token names
   * none). Also in the proxy certificate as spiffe://<td>/ns/<ns>/sa/<sa>.
   */
  'serviceAccount'?: (string);
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
  /**
   * The identity the proxy runs as: a ServiceAccount name in the service's
   * namespace (from the join token; the service's name when the token names
   * none). Also in the proxy certificate as spiffe://<td>/ns/<ns>/sa/<sa>.
   */
  'serviceAccount': (string);
}
