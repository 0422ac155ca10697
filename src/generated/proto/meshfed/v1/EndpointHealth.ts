// Original file: proto/meshfed/v1/control_plane.proto


/**
 * The probed health of one local endpoint, as the agent last decided it.
 */
export interface EndpointHealth {
  'ip'?: (string);
  'port'?: (number);
  /**
   * "healthy" | "unhealthy" | "unknown" (no result yet: counted ready)
   */
  'state'?: (string);
  /**
   * why, e.g. "probe failed: connection refused (3 tries)"
   */
  'reason'?: (string);
  /**
   * RFC 3339: when it entered this state
   */
  'since'?: (string);
  /**
   * what was probed, e.g. "http GET :14001/healthz every 10s"
   */
  'probe'?: (string);
  /**
   * where the probe was declared: "agent" | "token" | "hosts"
   */
  'source'?: (string);
}

/**
 * The probed health of one local endpoint, as the agent last decided it.
 */
export interface EndpointHealth__Output {
  'ip': (string);
  'port': (number);
  /**
   * "healthy" | "unhealthy" | "unknown" (no result yet: counted ready)
   */
  'state': (string);
  /**
   * why, e.g. "probe failed: connection refused (3 tries)"
   */
  'reason': (string);
  /**
   * RFC 3339: when it entered this state
   */
  'since': (string);
  /**
   * what was probed, e.g. "http GET :14001/healthz every 10s"
   */
  'probe': (string);
  /**
   * where the probe was declared: "agent" | "token" | "hosts"
   */
  'source': (string);
}
