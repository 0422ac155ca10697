// Original file: proto/meshfed/v1/control_plane.proto


export interface Goodbye {
  /**
   * Why, for the controller's log: "agent stopping", "uninstall", ...
   */
  'reason'?: (string);
}

export interface Goodbye__Output {
  /**
   * Why, for the controller's log: "agent stopping", "uninstall", ...
   */
  'reason': (string);
}
