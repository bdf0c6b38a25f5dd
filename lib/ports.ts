/** The TCP ports every part of the blueprint agrees on. */
export const API_SERVER_PORT = 6443;
export const ETCD_CLIENT_PORT = 2379;
export const ETCD_PEER_PORT = 2380;
export const KUBELET_PORT = 10250;
