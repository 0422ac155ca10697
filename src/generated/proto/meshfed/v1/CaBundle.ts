// Original file: proto/meshfed/v1/control_plane.proto


export interface CaBundle {
  /**
   * every root the proxy must trust
   */
  'pem'?: (string);
}

export interface CaBundle__Output {
  /**
   * every root the proxy must trust
   */
  'pem': (string);
}
