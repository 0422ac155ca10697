// Original file: proto/meshfed/v1/control_plane.proto


export interface ConfigFile {
  /**
   * starts with "/"
   */
  'path'?: (string);
  'content'?: (Buffer | Uint8Array | string);
}

export interface ConfigFile__Output {
  /**
   * starts with "/"
   */
  'path': (string);
  'content': (Buffer);
}
