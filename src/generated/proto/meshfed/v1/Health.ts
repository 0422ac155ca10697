// Original file: proto/meshfed/v1/control_plane.proto

import type { CaptureStatus as _meshfed_v1_CaptureStatus, CaptureStatus__Output as _meshfed_v1_CaptureStatus__Output } from '../../meshfed/v1/CaptureStatus.js';
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
  /**
   * The capture status as of this report (absent from older agents).
   */
  'capture'?: (_meshfed_v1_CaptureStatus | null);
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
  /**
   * The capture status as of this report (absent from older agents).
   */
  'capture': (_meshfed_v1_CaptureStatus__Output | null);
}
