// Original file: proto/meshfed/v1/control_plane.proto

import type { ConfigVersion as _meshfed_v1_ConfigVersion, ConfigVersion__Output as _meshfed_v1_ConfigVersion__Output } from '../../meshfed/v1/ConfigVersion.js';
import type { ServiceCertificate as _meshfed_v1_ServiceCertificate, ServiceCertificate__Output as _meshfed_v1_ServiceCertificate__Output } from '../../meshfed/v1/ServiceCertificate.js';
import type { CaBundle as _meshfed_v1_CaBundle, CaBundle__Output as _meshfed_v1_CaBundle__Output } from '../../meshfed/v1/CaBundle.js';
import type { Shutdown as _meshfed_v1_Shutdown, Shutdown__Output as _meshfed_v1_Shutdown__Output } from '../../meshfed/v1/Shutdown.js';
import type { RenewProxyCertificate as _meshfed_v1_RenewProxyCertificate, RenewProxyCertificate__Output as _meshfed_v1_RenewProxyCertificate__Output } from '../../meshfed/v1/RenewProxyCertificate.js';
import type { ProxyCertificate as _meshfed_v1_ProxyCertificate, ProxyCertificate__Output as _meshfed_v1_ProxyCertificate__Output } from '../../meshfed/v1/ProxyCertificate.js';
import type { MeshNames as _meshfed_v1_MeshNames, MeshNames__Output as _meshfed_v1_MeshNames__Output } from '../../meshfed/v1/MeshNames.js';
import type { HealthProbes as _meshfed_v1_HealthProbes, HealthProbes__Output as _meshfed_v1_HealthProbes__Output } from '../../meshfed/v1/HealthProbes.js';

export interface ControllerMessage {
  'config'?: (_meshfed_v1_ConfigVersion | null);
  'serviceCertificate'?: (_meshfed_v1_ServiceCertificate | null);
  'caBundle'?: (_meshfed_v1_CaBundle | null);
  'shutdown'?: (_meshfed_v1_Shutdown | null);
  'renewProxyCertificate'?: (_meshfed_v1_RenewProxyCertificate | null);
  'proxyCertificate'?: (_meshfed_v1_ProxyCertificate | null);
  'meshNames'?: (_meshfed_v1_MeshNames | null);
  'healthProbes'?: (_meshfed_v1_HealthProbes | null);
  'message'?: "config"|"serviceCertificate"|"caBundle"|"shutdown"|"renewProxyCertificate"|"proxyCertificate"|"meshNames"|"healthProbes";
}

export interface ControllerMessage__Output {
  'config'?: (_meshfed_v1_ConfigVersion__Output | null);
  'serviceCertificate'?: (_meshfed_v1_ServiceCertificate__Output | null);
  'caBundle'?: (_meshfed_v1_CaBundle__Output | null);
  'shutdown'?: (_meshfed_v1_Shutdown__Output | null);
  'renewProxyCertificate'?: (_meshfed_v1_RenewProxyCertificate__Output | null);
  'proxyCertificate'?: (_meshfed_v1_ProxyCertificate__Output | null);
  'meshNames'?: (_meshfed_v1_MeshNames__Output | null);
  'healthProbes'?: (_meshfed_v1_HealthProbes__Output | null);
  'message'?: "config"|"serviceCertificate"|"caBundle"|"shutdown"|"renewProxyCertificate"|"proxyCertificate"|"meshNames"|"healthProbes";
}
