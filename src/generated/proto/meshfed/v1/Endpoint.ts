// Original file: proto/meshfed/v1/control_plane.proto


export interface Endpoint {
  'ip'?: (string);
  'port'?: (number);
  /**
   * The port's application protocol: "", "http", "http2", "grpc" or "tcp"
   * ("" = not declared: http unless another source declares it).
   */
  'protocol'?: (string);
}

export interface Endpoint__Output {
  'ip': (string);
  'port': (number);
  /**
   * The port's application protocol: "", "http", "http2", "grpc" or "tcp"
   * ("" = not declared: http unless another source declares it).
   */
  'protocol': (string);
}
