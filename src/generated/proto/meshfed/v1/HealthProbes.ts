// Original file: proto/meshfed/v1/control_plane.proto

import type { HealthProbe as _meshfed_v1_HealthProbe, HealthProbe__Output as _meshfed_v1_HealthProbe__Output } from '../../meshfed/v1/HealthProbe.js';

/**
 * Probes the controller declares for this proxy's endpoints: the hosts-file
 * entries of its service on its host addresses (docs/agent.md, "Health
 * probes"). Sent after every Hello (an empty list: none, so an agent drops
 * what an earlier connection declared) and again whenever they change; the
 * agent's own config and its token win per port. Older agents ignore it.
 */
export interface HealthProbes {
  'probes'?: (_meshfed_v1_HealthProbe)[];
}

/**
 * Probes the controller declares for this proxy's endpoints: the hosts-file
 * entries of its service on its host addresses (docs/agent.md, "Health
 * probes"). Sent after every Hello (an empty list: none, so an agent drops
 * what an earlier connection declared) and again whenever they change; the
 * agent's own config and its token win per port. Older agents ignore it.
 */
export interface HealthProbes__Output {
  'probes': (_meshfed_v1_HealthProbe__Output)[];
}
