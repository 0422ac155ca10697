// Original file: proto/meshfed/v1/control_plane.proto

import type { HealthProbe as _meshfed_v1_HealthProbe, HealthProbe__Output as _meshfed_v1_HealthProbe__Output } from '../../meshfed/v1/HealthProbe.js';

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
  /**
   * Application health probes the join token declares (docs/agent.md,
   * "Health probes"); the agent keeps them with its enrollment. Absent from
   * older controllers and from tokens without probes.
   */
  'probes'?: (_meshfed_v1_HealthProbe)[];
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
  /**
   * Application health probes the join token declares (docs/agent.md,
   * "Health probes"); the agent keeps them with its enrollment. Absent from
   * older controllers and from tokens without probes.
   */
  'probes': (_meshfed_v1_HealthProbe__Output)[];
}
