// Original file: proto/meshfed/v1/control_plane.proto

import type { Long } from '@grpc/proto-loader';

export interface Health {
  /**
   * e.g. "running", "restarting", "disabled"
   */
  'proxyState'?: (string);
  /**
   * the config version the proxy reports running
   */
  'runningVersion'?: (number | string | Long);
  'detail'?: (string);
}

export interface Health__Output {
  /**
   * e.g. "running", "restarting", "disabled"
   */
  'proxyState': (string);
  /**
   * the config version the proxy reports running
   */
  'runningVersion': (number);
  'detail': (string);
}
