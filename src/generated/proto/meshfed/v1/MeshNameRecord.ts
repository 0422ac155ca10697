// Original file: proto/meshfed/v1/control_plane.proto


export interface MeshNameRecord {
  /**
   * lower case, no trailing dot, e.g. bookstore.shop.svc.cluster.local
   */
  'name'?: (string);
  'ipv4'?: (string)[];
}

export interface MeshNameRecord__Output {
  /**
   * lower case, no trailing dot, e.g. bookstore.shop.svc.cluster.local
   */
  'name': (string);
  'ipv4': (string)[];
}
