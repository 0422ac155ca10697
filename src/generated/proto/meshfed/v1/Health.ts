// Original file: proto/meshfed/v1/control_plane.proto

import type { CaptureStatus as _meshfed_v1_CaptureStatus, CaptureStatus__Output as _meshfed_v1_CaptureStatus__Output } from '../../meshfed/v1/CaptureStatus.js';
import type { EndpointHealth as _meshfed_v1_EndpointHealth, EndpointHealth__Output as _meshfed_v1_EndpointHealth__Output } from '../../meshfed/v1/EndpointHealth.js';
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
  /**
   * The probed health of its endpoints as of this report, complete each time
   * (an empty list: no probes; absent from older agents, the same meaning).
   */
  'endpointHealth'?: (_meshfed_v1_EndpointHealth)[];
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
  /**
   * The probed health of its endpoints as of this report, complete each time
   * (an empty list: no probes; absent from older agents, the same meaning).
   */
  'endpointHealth': (_meshfed_v1_EndpointHealth__Output)[];
}
