// Original file: proto/meshfed/v1/control_plane.proto


export interface Endpoint {
  'ip'?: (string);
  'port'?: (number);
}

export interface Endpoint__Output {
  'ip': (string);
  'port': (number);
}
