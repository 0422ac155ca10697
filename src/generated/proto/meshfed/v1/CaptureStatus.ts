// Original file: proto/meshfed/v1/control_plane.proto


/**
 * Where the agent's iptables capture stands. The agent sends it in Hello and
 * again in Health whenever it changes (the outbound jump comes and goes with
 * Pipy's readiness).
 */
export interface CaptureStatus {
  /**
   * "none" | "transparent"
   */
  'mode'?: (string);
  /**
   * the chains hold exactly the agent's rules and the inbound jump is in place
   */
  'installed'?: (boolean);
  /**
   * OUTPUT jumps into MESHFED_OUTPUT (false while Pipy is not ready: fail-open)
   */
  'outboundActive'?: (boolean);
  /**
   * the last failure, e.g. MESHFED_CAPTURE_IPTABLES_MISSING; "" when none
   */
  'errorCode'?: (string);
  'error'?: (string);
}

/**
 * Where the agent's iptables capture stands. The agent sends it in Hello and
 * again in Health whenever it changes (the outbound jump comes and goes with
 * Pipy's readiness).
 */
export interface CaptureStatus__Output {
  /**
   * "none" | "transparent"
   */
  'mode': (string);
  /**
   * the chains hold exactly the agent's rules and the inbound jump is in place
   */
  'installed': (boolean);
  /**
   * OUTPUT jumps into MESHFED_OUTPUT (false while Pipy is not ready: fail-open)
   */
  'outboundActive': (boolean);
  /**
   * the last failure, e.g. MESHFED_CAPTURE_IPTABLES_MISSING; "" when none
   */
  'errorCode': (string);
  'error': (string);
}
