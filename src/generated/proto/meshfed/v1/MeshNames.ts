// Original file: proto/meshfed/v1/control_plane.proto

import type { MeshNameRecord as _meshfed_v1_MeshNameRecord, MeshNameRecord__Output as _meshfed_v1_MeshNameRecord__Output } from '../../meshfed/v1/MeshNameRecord.js';

/**
 * The mesh names the proxy may call and their VIPs (docs/dataplane.md "Mesh
 * names"), sent to agents whose DNS is on, after Hello and whenever it
 * changes (hash). The agent keeps the newest on disk and answers from it
 * through controller outages and restarts.
 */
export interface MeshNames {
  /**
   * sha256 over zones and records, hex
   */
  'hash'?: (string);
  /**
   * Suffixes the agent answers for on its own: a name under one of them
   * that is not a record is NXDOMAIN, never forwarded.
   */
  'zones'?: (string)[];
  'records'?: (_meshfed_v1_MeshNameRecord)[];
}

/**
 * The mesh names the proxy may call and their VIPs (docs/dataplane.md "Mesh
 * names"), sent to agents whose DNS is on, after Hello and whenever it
 * changes (hash). The agent keeps the newest on disk and answers from it
 * through controller outages and restarts.
 */
export interface MeshNames__Output {
  /**
   * sha256 over zones and records, hex
   */
  'hash': (string);
  /**
   * Suffixes the agent answers for on its own: a name under one of them
   * that is not a record is NXDOMAIN, never forwarded.
   */
  'zones': (string)[];
  'records': (_meshfed_v1_MeshNameRecord__Output)[];
}
