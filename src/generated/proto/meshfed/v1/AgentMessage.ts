// Original file: proto/meshfed/v1/control_plane.proto

import type { Hello as _meshfed_v1_Hello, Hello__Output as _meshfed_v1_Hello__Output } from '../../meshfed/v1/Hello.js';
import type { ConfigAck as _meshfed_v1_ConfigAck, ConfigAck__Output as _meshfed_v1_ConfigAck__Output } from '../../meshfed/v1/ConfigAck.js';
import type { Health as _meshfed_v1_Health, Health__Output as _meshfed_v1_Health__Output } from '../../meshfed/v1/Health.js';
import type { ProxyCsr as _meshfed_v1_ProxyCsr, ProxyCsr__Output as _meshfed_v1_ProxyCsr__Output } from '../../meshfed/v1/ProxyCsr.js';
import type { Goodbye as _meshfed_v1_Goodbye, Goodbye__Output as _meshfed_v1_Goodbye__Output } from '../../meshfed/v1/Goodbye.js';

export interface AgentMessage {
  'hello'?: (_meshfed_v1_Hello | null);
  'ack'?: (_meshfed_v1_ConfigAck | null);
  'health'?: (_meshfed_v1_Health | null);
  'proxyCsr'?: (_meshfed_v1_ProxyCsr | null);
  /**
   * The agent is stopping on purpose (docs/agent.md, "Reconnect grace"): its
   * endpoints are withdrawn at once instead of after the reconnect grace.
   * Older controllers skip the unknown field and keep the grace.
   */
  'goodbye'?: (_meshfed_v1_Goodbye | null);
  'message'?: "hello"|"ack"|"health"|"proxyCsr"|"goodbye";
}

export interface AgentMessage__Output {
  'hello'?: (_meshfed_v1_Hello__Output | null);
  'ack'?: (_meshfed_v1_ConfigAck__Output | null);
  'health'?: (_meshfed_v1_Health__Output | null);
  'proxyCsr'?: (_meshfed_v1_ProxyCsr__Output | null);
  /**
   * The agent is stopping on purpose (docs/agent.md, "Reconnect grace"): its
   * endpoints are withdrawn at once instead of after the reconnect grace.
   * Older controllers skip the unknown field and keep the grace.
   */
  'goodbye'?: (_meshfed_v1_Goodbye__Output | null);
  'message'?: "hello"|"ack"|"health"|"proxyCsr"|"goodbye";
}
