// Original file: proto/meshfed/v1/control_plane.proto

import type { AzureAttestedDocument as _meshfed_v1_AzureAttestedDocument, AzureAttestedDocument__Output as _meshfed_v1_AzureAttestedDocument__Output } from '../../meshfed/v1/AzureAttestedDocument.js';

export interface EnrollRequest {
  'token'?: (string);
  /**
   * PEM PKCS#10, P-256 key generated on the agent; the key never leaves it.
   */
  'csrPem'?: (string);
  'agentVersion'?: (string);
  'hostname'?: (string);
  /**
   * Instead of a token (older agents never set it): an Azure IMDS attested
   * document over a nonce from AttestationNonce. Exactly one of token and
   * azure_attested is given.
   */
  'azureAttested'?: (_meshfed_v1_AzureAttestedDocument | null);
}

export interface EnrollRequest__Output {
  'token': (string);
  /**
   * PEM PKCS#10, P-256 key generated on the agent; the key never leaves it.
   */
  'csrPem': (string);
  'agentVersion': (string);
  'hostname': (string);
  /**
   * Instead of a token (older agents never set it): an Azure IMDS attested
   * document over a nonce from AttestationNonce. Exactly one of token and
   * azure_attested is given.
   */
  'azureAttested': (_meshfed_v1_AzureAttestedDocument__Output | null);
}
