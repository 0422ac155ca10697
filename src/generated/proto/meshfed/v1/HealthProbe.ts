// Original file: proto/meshfed/v1/control_plane.proto


/**
 * One application health probe (docs/agent.md, "Health probes"). Names
 * follow Kubernetes probes. It decides the health of the local endpoints on
 * `port` and probes that port on the endpoint's IP.
 */
export interface HealthProbe {
  'port'?: (number);
  /**
   * "http" | "tcp"
   */
  'type'?: (string);
  /**
   * http only; "" = "/"
   */
  'path'?: (string);
  'periodSeconds'?: (number | string);
  'timeoutSeconds'?: (number | string);
  'successThreshold'?: (number);
  'failureThreshold'?: (number);
}

/**
 * One application health probe (docs/agent.md, "Health probes"). Names
 * follow Kubernetes probes. It decides the health of the local endpoints on
 * `port` and probes that port on the endpoint's IP.
 */
export interface HealthProbe__Output {
  'port': (number);
  /**
   * "http" | "tcp"
   */
  'type': (string);
  /**
   * http only; "" = "/"
   */
  'path': (string);
  'periodSeconds': (number);
  'timeoutSeconds': (number);
  'successThreshold': (number);
  'failureThreshold': (number);
}
