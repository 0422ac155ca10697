// Original file: proto/meshfed/v1/control_plane.proto

import type { Long } from '@grpc/proto-loader';

export interface ConfigAck {
  'version'?: (number | string | Long);
  'hash'?: (string);
  /**
   * false = NACK
   */
  'ok'?: (boolean);
  /**
   * why, for a NACK
   */
  'error'?: (string);
}

export interface ConfigAck__Output {
  'version': (number);
  'hash': (string);
  /**
   * false = NACK
   */
  'ok': (boolean);
  /**
   * why, for a NACK
   */
  'error': (string);
}
