// Original file: proto/meshfed/v1/control_plane.proto

import type { ConfigFile as _meshfed_v1_ConfigFile, ConfigFile__Output as _meshfed_v1_ConfigFile__Output } from '../../meshfed/v1/ConfigFile.js';
import type { Long } from '@grpc/proto-loader';

/**
 * A complete configuration for the proxy; versions are monotonic per proxy.
 */
export interface ConfigVersion {
  'version'?: (number | string | Long);
  /**
   * "pipy", "json"
   */
  'driver'?: (string);
  /**
   * sha256 over the files, hex
   */
  'hash'?: (string);
  /**
   * the entry file first
   */
  'files'?: (_meshfed_v1_ConfigFile)[];
}

/**
 * A complete configuration for the proxy; versions are monotonic per proxy.
 */
export interface ConfigVersion__Output {
  'version': (number);
  /**
   * "pipy", "json"
   */
  'driver': (string);
  /**
   * sha256 over the files, hex
   */
  'hash': (string);
  /**
   * the entry file first
   */
  'files': (_meshfed_v1_ConfigFile__Output)[];
}
