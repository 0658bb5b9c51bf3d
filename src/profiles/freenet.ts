/** Freenet nodes: transport keys, gateways.toml and the `freenet network` command line. */
import type { FileToWrite } from '../plan/types.js';
import { InputError } from '../spec/errors.js';
import { generateX25519, type KeyPairHex } from './keys.js';
import type { NodeLaunch, Profile, ProfileInput, ProfileNode } from './types.js';

const CONFIG_DIR = '/config';
const DATA_DIR = '/data';
const WS_PATH = '/v1/contract/command?encodingProtocol=native';

const gatewayKeyPath = (index: number): string => `${CONFIG_DIR}/gw_${index}_public_key.pem`;

function gatewaysToml(gateways: ProfileNode[], networkPort: number): string {
  // freenet's Gateways struct has no serde default: a file without the key fails to parse.
  if (gateways.length === 0) return '# no other gateways\ngateways = []\n';
  return gateways
    .map(
      (gw) =>
        '[[gateways]]\n' +
        `address = { hostname = ${JSON.stringify(`${gw.publicAddress}:${networkPort}`)} }\n` +
        `public_key = ${JSON.stringify(gatewayKeyPath(gw.index))}\n`,
    )
    .join('\n');
}

function freenetEnv(input: ProfileInput): Record<string, string> {
  const telemetry = input.env.FREENET_TELEMETRY_ENABLED;
  if (telemetry !== undefined && telemetry !== 'false') {
    // Test peers once reported to Freenet's production telemetry collector.
    throw new InputError('env', 'FREENET_TELEMETRY_ENABLED must stay false: test nodes never send telemetry');
  }
  return {
    RUST_LOG: input.logLevel,
    RUST_BACKTRACE: '1',
    ...input.env,
    FREENET_TELEMETRY_ENABLED: 'false',
  };
}

function command(input: ProfileInput, node: ProfileNode): string[] {
  const argv = [
    input.binaryPath,
    'network',
    '--data-dir', DATA_DIR,
    '--config-dir', CONFIG_DIR,
    '--ws-api-address', '0.0.0.0',
    '--ws-api-port', String(input.wsPort),
    '--network-address', '0.0.0.0',
    '--network-port', String(input.networkPort),
  ];
  if (node.role === 'gateway') {
    argv.push(
      '--public-network-address', node.publicAddress,
      '--public-network-port', String(input.networkPort),
      '--is-gateway',
    );
  }
  argv.push('--skip-load-from-network', '--transport-keypair', `${CONFIG_DIR}/keypair.pem`);
  return argv;
}

export function freenetProfile(keygen: () => KeyPairHex = generateX25519): Profile {
  return {
    launches(input: ProfileInput): NodeLaunch[] {
      if (input.command !== undefined) {
        throw new InputError('command', 'only the generic profile takes a command template');
      }
      const env = freenetEnv(input);
      const keys = input.nodes.map(() => keygen());
      const gateways = input.nodes.filter((n) => n.role === 'gateway');
      const gatewayKeyFiles: FileToWrite[] = input.nodes.flatMap((n, i) =>
        n.role === 'gateway' ? [{ path: gatewayKeyPath(n.index), content: keys[i]!.publicHex, mode: 0o644 }] : [],
      );

      return input.nodes.map((node, i) => {
        // A gateway listing itself would try to connect to itself.
        const others = node.role === 'gateway' ? gateways.filter((g) => g.index !== node.index) : gateways;
        const files: FileToWrite[] = [
          { path: `${CONFIG_DIR}/keypair.pem`, content: keys[i]!.secretHex, mode: 0o600 },
          { path: `${CONFIG_DIR}/public_key.pem`, content: keys[i]!.publicHex, mode: 0o644 },
          ...gatewayKeyFiles,
          { path: `${CONFIG_DIR}/gateways.toml`, content: gatewaysToml(others, input.networkPort), mode: 0o644 },
          { path: `${DATA_DIR}/.keep`, content: '', mode: 0o644 },
        ];
        return { command: command(input, node), env: { ...env }, files, wsPath: WS_PATH };
      });
    },
  };
}
