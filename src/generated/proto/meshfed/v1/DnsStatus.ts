// Original file: proto/meshfed/v1/control_plane.proto


/**
 * What the agent's DNS is doing, as of its Hello: the controller sends
 * MeshNames only when it is not "disabled", and not again when names_hash is
 * already the current table's.
 */
export interface DnsStatus {
  /**
   * "disabled", "serving", "failed"
   */
  'state'?: (string);
  /**
   * host:port it answers on
   */
  'listen'?: (string);
  /**
   * resolver hook in place: "resolved", "resolv.conf", "none"
   */
  'hook'?: (string);
  /**
   * hash of the MeshNames it holds ("" = none)
   */
  'namesHash'?: (string);
  /**
   * how many names that table has
   */
  'names'?: (number);
  /**
   * why, when "failed" or the hook could not be set
   */
  'detail'?: (string);
}

/**
 * What the agent's DNS is doing, as of its Hello: the controller sends
 * MeshNames only when it is not "disabled", and not again when names_hash is
 * already the current table's.
 */
export interface DnsStatus__Output {
  /**
   * "disabled", "serving", "failed"
   */
  'state': (string);
  /**
   * host:port it answers on
   */
  'listen': (string);
  /**
   * resolver hook in place: "resolved", "resolv.conf", "none"
   */
  'hook': (string);
  /**
   * hash of the MeshNames it holds ("" = none)
   */
  'namesHash': (string);
  /**
   * how many names that table has
   */
  'names': (number);
  /**
   * why, when "failed" or the hook could not be set
   */
  'detail': (string);
}
