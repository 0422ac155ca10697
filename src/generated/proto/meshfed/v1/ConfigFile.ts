// Original file: proto/meshfed/v1/control_plane.proto


export interface ConfigFile {
  /**
   * starts with "/"
   */
  'path'?: (string);
  'content'?: (Buffer | Uint8Array | string);
  /**
   * Only to agents whose Hello set file_cache.supported, only for files shared
   * by many proxies: the sha256 of the content (hex). With by_reference the
   * content is absent and the agent takes the file from its cache (checked
   * against this hash); otherwise the content is here and the agent caches it.
   */
  'sha256'?: (string);
  'byReference'?: (boolean);
}

export interface ConfigFile__Output {
  /**
   * starts with "/"
   */
  'path': (string);
  'content': (Buffer);
  /**
   * Only to agents whose Hello set file_cache.supported, only for files shared
   * by many proxies: the sha256 of the content (hex). With by_reference the
   * content is absent and the agent takes the file from its cache (checked
   * against this hash); otherwise the content is here and the agent caches it.
   */
  'sha256': (string);
  'byReference': (boolean);
}
