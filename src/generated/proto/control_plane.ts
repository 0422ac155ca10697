import type * as grpc from '@grpc/grpc-js';
import type { MessageTypeDefinition } from '@grpc/proto-loader';

import type { AgentMessage as _meshfed_v1_AgentMessage, AgentMessage__Output as _meshfed_v1_AgentMessage__Output } from './meshfed/v1/AgentMessage.js';
import type { AttestationNonceRequest as _meshfed_v1_AttestationNonceRequest, AttestationNonceRequest__Output as _meshfed_v1_AttestationNonceRequest__Output } from './meshfed/v1/AttestationNonceRequest.js';
import type { AttestationNonceResponse as _meshfed_v1_AttestationNonceResponse, AttestationNonceResponse__Output as _meshfed_v1_AttestationNonceResponse__Output } from './meshfed/v1/AttestationNonceResponse.js';
import type { AzureAttestedDocument as _meshfed_v1_AzureAttestedDocument, AzureAttestedDocument__Output as _meshfed_v1_AzureAttestedDocument__Output } from './meshfed/v1/AzureAttestedDocument.js';
import type { CaBundle as _meshfed_v1_CaBundle, CaBundle__Output as _meshfed_v1_CaBundle__Output } from './meshfed/v1/CaBundle.js';
import type { CaptureStatus as _meshfed_v1_CaptureStatus, CaptureStatus__Output as _meshfed_v1_CaptureStatus__Output } from './meshfed/v1/CaptureStatus.js';
import type { ConfigAck as _meshfed_v1_ConfigAck, ConfigAck__Output as _meshfed_v1_ConfigAck__Output } from './meshfed/v1/ConfigAck.js';
import type { ConfigFile as _meshfed_v1_ConfigFile, ConfigFile__Output as _meshfed_v1_ConfigFile__Output } from './meshfed/v1/ConfigFile.js';
import type { ConfigVersion as _meshfed_v1_ConfigVersion, ConfigVersion__Output as _meshfed_v1_ConfigVersion__Output } from './meshfed/v1/ConfigVersion.js';
import type { ControllerMessage as _meshfed_v1_ControllerMessage, ControllerMessage__Output as _meshfed_v1_ControllerMessage__Output } from './meshfed/v1/ControllerMessage.js';
import type { DnsStatus as _meshfed_v1_DnsStatus, DnsStatus__Output as _meshfed_v1_DnsStatus__Output } from './meshfed/v1/DnsStatus.js';
import type { Endpoint as _meshfed_v1_Endpoint, Endpoint__Output as _meshfed_v1_Endpoint__Output } from './meshfed/v1/Endpoint.js';
import type { EndpointHealth as _meshfed_v1_EndpointHealth, EndpointHealth__Output as _meshfed_v1_EndpointHealth__Output } from './meshfed/v1/EndpointHealth.js';
import type { EnrollRequest as _meshfed_v1_EnrollRequest, EnrollRequest__Output as _meshfed_v1_EnrollRequest__Output } from './meshfed/v1/EnrollRequest.js';
import type { EnrollResponse as _meshfed_v1_EnrollResponse, EnrollResponse__Output as _meshfed_v1_EnrollResponse__Output } from './meshfed/v1/EnrollResponse.js';
import type { FileCache as _meshfed_v1_FileCache, FileCache__Output as _meshfed_v1_FileCache__Output } from './meshfed/v1/FileCache.js';
import type { Goodbye as _meshfed_v1_Goodbye, Goodbye__Output as _meshfed_v1_Goodbye__Output } from './meshfed/v1/Goodbye.js';
import type { Health as _meshfed_v1_Health, Health__Output as _meshfed_v1_Health__Output } from './meshfed/v1/Health.js';
import type { HealthProbe as _meshfed_v1_HealthProbe, HealthProbe__Output as _meshfed_v1_HealthProbe__Output } from './meshfed/v1/HealthProbe.js';
import type { HealthProbes as _meshfed_v1_HealthProbes, HealthProbes__Output as _meshfed_v1_HealthProbes__Output } from './meshfed/v1/HealthProbes.js';
import type { Hello as _meshfed_v1_Hello, Hello__Output as _meshfed_v1_Hello__Output } from './meshfed/v1/Hello.js';
import type { MeshNameRecord as _meshfed_v1_MeshNameRecord, MeshNameRecord__Output as _meshfed_v1_MeshNameRecord__Output } from './meshfed/v1/MeshNameRecord.js';
import type { MeshNames as _meshfed_v1_MeshNames, MeshNames__Output as _meshfed_v1_MeshNames__Output } from './meshfed/v1/MeshNames.js';
import type { ProxyCertificate as _meshfed_v1_ProxyCertificate, ProxyCertificate__Output as _meshfed_v1_ProxyCertificate__Output } from './meshfed/v1/ProxyCertificate.js';
import type { ProxyControlPlaneClient as _meshfed_v1_ProxyControlPlaneClient, ProxyControlPlaneDefinition as _meshfed_v1_ProxyControlPlaneDefinition } from './meshfed/v1/ProxyControlPlane.js';
import type { ProxyCsr as _meshfed_v1_ProxyCsr, ProxyCsr__Output as _meshfed_v1_ProxyCsr__Output } from './meshfed/v1/ProxyCsr.js';
import type { RenewProxyCertificate as _meshfed_v1_RenewProxyCertificate, RenewProxyCertificate__Output as _meshfed_v1_RenewProxyCertificate__Output } from './meshfed/v1/RenewProxyCertificate.js';
import type { ServiceCertificate as _meshfed_v1_ServiceCertificate, ServiceCertificate__Output as _meshfed_v1_ServiceCertificate__Output } from './meshfed/v1/ServiceCertificate.js';
import type { Shutdown as _meshfed_v1_Shutdown, Shutdown__Output as _meshfed_v1_Shutdown__Output } from './meshfed/v1/Shutdown.js';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  meshfed: {
    v1: {
      AgentMessage: MessageTypeDefinition<_meshfed_v1_AgentMessage, _meshfed_v1_AgentMessage__Output>
      AttestationNonceRequest: MessageTypeDefinition<_meshfed_v1_AttestationNonceRequest, _meshfed_v1_AttestationNonceRequest__Output>
      AttestationNonceResponse: MessageTypeDefinition<_meshfed_v1_AttestationNonceResponse, _meshfed_v1_AttestationNonceResponse__Output>
      AzureAttestedDocument: MessageTypeDefinition<_meshfed_v1_AzureAttestedDocument, _meshfed_v1_AzureAttestedDocument__Output>
      CaBundle: MessageTypeDefinition<_meshfed_v1_CaBundle, _meshfed_v1_CaBundle__Output>
      CaptureStatus: MessageTypeDefinition<_meshfed_v1_CaptureStatus, _meshfed_v1_CaptureStatus__Output>
      ConfigAck: MessageTypeDefinition<_meshfed_v1_ConfigAck, _meshfed_v1_ConfigAck__Output>
      ConfigFile: MessageTypeDefinition<_meshfed_v1_ConfigFile, _meshfed_v1_ConfigFile__Output>
      ConfigVersion: MessageTypeDefinition<_meshfed_v1_ConfigVersion, _meshfed_v1_ConfigVersion__Output>
      ControllerMessage: MessageTypeDefinition<_meshfed_v1_ControllerMessage, _meshfed_v1_ControllerMessage__Output>
      DnsStatus: MessageTypeDefinition<_meshfed_v1_DnsStatus, _meshfed_v1_DnsStatus__Output>
      Endpoint: MessageTypeDefinition<_meshfed_v1_Endpoint, _meshfed_v1_Endpoint__Output>
      EndpointHealth: MessageTypeDefinition<_meshfed_v1_EndpointHealth, _meshfed_v1_EndpointHealth__Output>
      EnrollRequest: MessageTypeDefinition<_meshfed_v1_EnrollRequest, _meshfed_v1_EnrollRequest__Output>
      EnrollResponse: MessageTypeDefinition<_meshfed_v1_EnrollResponse, _meshfed_v1_EnrollResponse__Output>
      FileCache: MessageTypeDefinition<_meshfed_v1_FileCache, _meshfed_v1_FileCache__Output>
      Goodbye: MessageTypeDefinition<_meshfed_v1_Goodbye, _meshfed_v1_Goodbye__Output>
      Health: MessageTypeDefinition<_meshfed_v1_Health, _meshfed_v1_Health__Output>
      HealthProbe: MessageTypeDefinition<_meshfed_v1_HealthProbe, _meshfed_v1_HealthProbe__Output>
      HealthProbes: MessageTypeDefinition<_meshfed_v1_HealthProbes, _meshfed_v1_HealthProbes__Output>
      Hello: MessageTypeDefinition<_meshfed_v1_Hello, _meshfed_v1_Hello__Output>
      MeshNameRecord: MessageTypeDefinition<_meshfed_v1_MeshNameRecord, _meshfed_v1_MeshNameRecord__Output>
      MeshNames: MessageTypeDefinition<_meshfed_v1_MeshNames, _meshfed_v1_MeshNames__Output>
      ProxyCertificate: MessageTypeDefinition<_meshfed_v1_ProxyCertificate, _meshfed_v1_ProxyCertificate__Output>
      ProxyControlPlane: SubtypeConstructor<typeof grpc.Client, _meshfed_v1_ProxyControlPlaneClient> & { service: _meshfed_v1_ProxyControlPlaneDefinition }
      ProxyCsr: MessageTypeDefinition<_meshfed_v1_ProxyCsr, _meshfed_v1_ProxyCsr__Output>
      RenewProxyCertificate: MessageTypeDefinition<_meshfed_v1_RenewProxyCertificate, _meshfed_v1_RenewProxyCertificate__Output>
      ServiceCertificate: MessageTypeDefinition<_meshfed_v1_ServiceCertificate, _meshfed_v1_ServiceCertificate__Output>
      Shutdown: MessageTypeDefinition<_meshfed_v1_Shutdown, _meshfed_v1_Shutdown__Output>
    }
  }
}

