/** A profile turns the planned nodes into what runs in each: argv, env and files. */
import type { FileToWrite } from '../plan/types.js';
import type { Role } from '../spec/types.js';

export interface ProfileNode {
  role: Role;
  index: number;
  /** The node's own address on the network it is attached to. */
  address: string;
  /** The address other nodes see it as on the public network. */
  publicAddress: string;
}

export interface ProfileInput {
  nodes: ProfileNode[]; // gateways first (index order), then peers (index order)
  wsPort: number;
  networkPort: number;
  /** Path of the peer program inside every container. */
  binaryPath: string;
  /** Generic profile only: the user's command template. */
  command?: string;
  /** Freenet RUST_LOG. */
  logLevel: string;
  /** Extra env for every node, given by the user. */
  env: Record<string, string>;
}

export interface NodeLaunch {
  command: string[];
  env: Record<string, string>;
  files: FileToWrite[];
  /** Path and query of the node's WebSocket endpoint, e.g. '/v1/contract/command?encodingProtocol=native'. */
  wsPath: string;
}

export interface Profile {
  /** One launch per input node, same order. Throws InputError for a bad template. */
  launches(input: ProfileInput): NodeLaunch[];
}
