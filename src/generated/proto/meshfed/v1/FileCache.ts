// Original file: proto/meshfed/v1/control_plane.proto


/**
 * The files an agent holds on disk by sha256, as of its Hello. The controller
 * then sends files shared by many proxies (the Pipy codebase) by reference
 * when the agent holds them, and in full, with their sha256, when it does not.
 */
export interface FileCache {
  /**
   * the agent resolves ConfigFile references
   */
  'supported'?: (boolean);
  /**
   * lower-case hex, at most 256
   */
  'sha256'?: (string)[];
}

/**
 * The files an agent holds on disk by sha256, as of its Hello. The controller
 * then sends files shared by many proxies (the Pipy codebase) by reference
 * when the agent holds them, and in full, with their sha256, when it does not.
 */
export interface FileCache__Output {
  /**
   * the agent resolves ConfigFile references
   */
  'supported': (boolean);
  /**
   * lower-case hex, at most 256
   */
  'sha256': (string)[];
}
