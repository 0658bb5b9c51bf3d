import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { freenetProfile } from '../../src/profiles/freenet.js';
import { genericProfile, validateCommandTemplate } from '../../src/profiles/generic.js';
import { profileFor } from '../../src/profiles/index.js';
import { generateX25519, publicFromSecret, type KeyPairHex } from '../../src/profiles/keys.js';
import type { NodeLaunch, ProfileInput } from '../../src/profiles/types.js';
import { InputError } from '../../src/spec/errors.js';

const HEX64 = /^[0-9a-f]{64}$/;

/** Two gateways on the public network, one NATed peer behind router 0 and one behind router 1. */
function input(overrides: Partial<ProfileInput> = {}): ProfileInput {
  return {
    nodes: [
      { role: 'gateway', index: 0, address: '10.200.0.10', publicAddress: '10.200.0.10' },
      { role: 'gateway', index: 1, address: '10.200.1.10', publicAddress: '10.200.1.10' },
      { role: 'peer', index: 0, address: '10.201.0.2', publicAddress: '10.200.8.2' },
      { role: 'peer', index: 1, address: '10.201.1.2', publicAddress: '10.200.8.3' },
    ],
    wsPort: 9000,
    networkPort: 31337,
    binaryPath: '/nat-net/bin/freenet',
    logLevel: 'info',
    env: {},
    ...overrides,
  };
}

/** Node i gets secret "<i>"*64 and public "<a+i>"*64. */
function stubKeygen(): () => KeyPairHex {
  let n = 0;
  return () => {
    const i = n++;
    return { secretHex: String(i).repeat(64), publicHex: String.fromCharCode(97 + i).repeat(64) };
  };
}

const file = (launch: NodeLaunch, path: string) => {
  const found = launch.files.find((f) => f.path === path);
  assert.ok(found, `${path} missing`);
  return found;
};

/** Enough of TOML for gateways.toml: the [[gateways]] tables and their two keys. */
function parseGatewaysToml(text: string): { hostname: string; publicKey: string }[] {
  return text
    .split('[[gateways]]')
    .slice(1)
    .map((table) => {
      const hostname = /^address = \{ hostname = "([^"]*)" \}$/m.exec(table)?.[1];
      const publicKey = /^public_key = "([^"]*)"$/m.exec(table)?.[1];
      assert.ok(hostname !== undefined && publicKey !== undefined, `bad table: ${table}`);
      return { hostname, publicKey };
    });
}

const isInputError = (input: string, ...fragments: string[]) => (err: unknown) => {
  assert.ok(err instanceof InputError, `not an InputError: ${String(err)}`);
  assert.equal(err.input, input);
  for (const fragment of fragments) assert.ok(err.message.includes(fragment), `${err.message} lacks ${fragment}`);
  return true;
};

describe('keys', () => {
  it('generates 64-hex X25519 pairs whose public key follows from the secret', () => {
    const a = generateX25519();
    const b = generateX25519();
    assert.match(a.secretHex, HEX64);
    assert.match(a.publicHex, HEX64);
    assert.equal(publicFromSecret(a.secretHex), a.publicHex);
    assert.notEqual(a.secretHex, b.secretHex);
  });

  it('matches the RFC 7748 test vector', () => {
    assert.equal(
      publicFromSecret('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a'),
      '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a',
    );
  });
});

describe('freenet profile', () => {
  it('writes each node its own raw hex keys', () => {
    const launches = freenetProfile(stubKeygen()).launches(input());
    assert.equal(launches.length, 4);
    const peer1 = launches[3]!;
    assert.deepEqual(file(peer1, '/config/keypair.pem'), { path: '/config/keypair.pem', content: '3'.repeat(64), mode: 0o600 });
    assert.deepEqual(file(peer1, '/config/public_key.pem'), { path: '/config/public_key.pem', content: 'd'.repeat(64), mode: 0o644 });
    assert.deepEqual(file(peer1, '/data/.keep'), { path: '/data/.keep', content: '', mode: 0o644 });
  });

  it('real keys: keypair.pem is the secret of public_key.pem, no newline, no armour', () => {
    for (const launch of freenetProfile().launches(input())) {
      const secret = file(launch, '/config/keypair.pem').content;
      assert.match(secret, HEX64);
      assert.equal(publicFromSecret(secret), file(launch, '/config/public_key.pem').content);
    }
  });

  it('peers list every gateway, each with a key file holding that gateway\'s public key', () => {
    const launches = freenetProfile().launches(input());
    for (const peer of launches.slice(2)) {
      const gateways = parseGatewaysToml(file(peer, '/config/gateways.toml').content);
      assert.deepEqual(
        gateways.map((g) => g.hostname),
        ['10.200.0.10:31337', '10.200.1.10:31337'],
      );
      gateways.forEach((gw, i) => {
        assert.equal(file(peer, gw.publicKey).content, file(launches[i]!, '/config/public_key.pem').content);
      });
    }
    assert.notEqual(
      file(launches[0]!, '/config/public_key.pem').content,
      file(launches[1]!, '/config/public_key.pem').content,
    );
  });

  it('a gateway lists the other gateways but not itself', () => {
    const launches = freenetProfile(stubKeygen()).launches(input());
    const gw0 = parseGatewaysToml(file(launches[0]!, '/config/gateways.toml').content);
    assert.deepEqual(gw0, [{ hostname: '10.200.1.10:31337', publicKey: '/config/gw_1_public_key.pem' }]);
    assert.equal(file(launches[0]!, '/config/gw_1_public_key.pem').content, 'b'.repeat(64));
  });

  it('a lone gateway gets a gateways.toml that still has the gateways key', () => {
    const [gw] = freenetProfile(stubKeygen()).launches(input({ nodes: [input().nodes[0]!] }));
    const toml = file(gw!, '/config/gateways.toml').content;
    assert.deepEqual(parseGatewaysToml(toml), []);
    assert.match(toml, /^gateways = \[\]$/m);
  });

  it('gives exact argv for gateway and peer', () => {
    const launches = freenetProfile(stubKeygen()).launches(input());
    const common = [
      '/nat-net/bin/freenet', 'network',
      '--data-dir', '/data', '--config-dir', '/config',
      '--ws-api-address', '0.0.0.0', '--ws-api-port', '9000',
      '--network-address', '0.0.0.0', '--network-port', '31337',
    ];
    const tail = ['--skip-load-from-network', '--transport-keypair', '/config/keypair.pem'];
    assert.deepEqual(launches[1]!.command, [
      ...common,
      '--public-network-address', '10.200.1.10', '--public-network-port', '31337', '--is-gateway',
      ...tail,
    ]);
    assert.deepEqual(launches[2]!.command, [...common, ...tail]);
    assert.equal(launches[2]!.wsPath, '/v1/contract/command?encodingProtocol=native');
  });

  it('sets the env, lets RUST_LOG be overridden, never telemetry', () => {
    const [gw] = freenetProfile(stubKeygen()).launches(input({ logLevel: 'debug', env: { FOO: 'bar' } }));
    assert.deepEqual(gw!.env, { RUST_LOG: 'debug', RUST_BACKTRACE: '1', FREENET_TELEMETRY_ENABLED: 'false', FOO: 'bar' });

    const [own] = freenetProfile(stubKeygen()).launches(input({ env: { RUST_LOG: 'freenet=trace', FREENET_TELEMETRY_ENABLED: 'false' } }));
    assert.equal(own!.env.RUST_LOG, 'freenet=trace');
    assert.equal(own!.env.FREENET_TELEMETRY_ENABLED, 'false');

    for (const value of ['true', '1', '']) {
      assert.throws(
        () => freenetProfile(stubKeygen()).launches(input({ env: { FREENET_TELEMETRY_ENABLED: value } })),
        isInputError('env', 'FREENET_TELEMETRY_ENABLED'),
      );
    }
  });

  it('rejects a command template', () => {
    assert.throws(
      () => freenetProfile(stubKeygen()).launches(input({ command: '{binary}' })),
      isInputError('command', 'generic'),
    );
  });
});

describe('generic profile', () => {
  const run = (command: string, overrides: Partial<ProfileInput> = {}) =>
    genericProfile().launches(input({ command, binaryPath: '/nat-net/bin/peer', ...overrides }));

  it('substitutes placeholders, several per word, and keeps quoted words whole', () => {
    const launches = run(
      `{binary} serve --listen={address}:{network_port} --public "{public_address} as {name}" '' --seeds={gateways} -n {{{index}}}`,
    );
    assert.deepEqual(launches[3]!.command, [
      '/nat-net/bin/peer', 'serve', '--listen=10.201.1.2:31337', '--public', '10.200.8.3 as peer-1', '',
      '--seeds=10.200.0.10:31337,10.200.1.10:31337', '-n', '{1}',
    ]);
  });

  it('fills every placeholder', () => {
    const [gw1] = run(
      '{binary} {role} {index} {name} {address} {public_address} {ws_port} {network_port} {config_dir} {data_dir} ' +
        '{gateways} {gateway_addresses} {gateway_count} {peer_count} {is_gateway}',
    ).slice(1);
    assert.deepEqual(gw1!.command, [
      '/nat-net/bin/peer', 'gateway', '1', 'gateway-1', '10.200.1.10', '10.200.1.10', '9000', '31337', '/config', '/data',
      '10.200.0.10:31337,10.200.1.10:31337', '10.200.0.10,10.200.1.10', '2', '2', 'true',
    ]);
  });

  it('keeps shell metacharacters literal, one argv entry per word', () => {
    const [gw] = run(`/bin/echo "$(rm -rf /)" ; '&&' \`id\` $HOME|x >out`);
    assert.deepEqual(gw!.command, ['/bin/echo', '$(rm -rf /)', ';', '&&', '`id`', '$HOME|x', '>out']);
  });

  it('never splits a substituted value', () => {
    const [gw] = run('{binary} {public_address}', { binaryPath: '/path with space/peer' });
    assert.deepEqual(gw!.command, ['/path with space/peer', '10.200.0.10']);
  });

  it('sets the NAT_NET_* env on top of the user env', () => {
    const launches = run('{binary}', { env: { FOO: 'bar', NAT_NET_ROLE: 'mine' } });
    assert.deepEqual(launches[2]!.env, {
      FOO: 'bar',
      NAT_NET_ROLE: 'peer',
      NAT_NET_INDEX: '0',
      NAT_NET_NAME: 'peer-0',
      NAT_NET_GATEWAYS: '10.200.0.10:31337,10.200.1.10:31337',
    });
    assert.deepEqual(launches[2]!.files, [{ path: '/data/.keep', content: '', mode: 0o644 }]);
    assert.equal(launches[2]!.wsPath, '/');
  });

  it('rejects unknown placeholders, even with no nodes', () => {
    assert.throws(() => run('{binary} --x={nmae}', { nodes: [] }), isInputError('command', '{nmae}', '{name}', '{binary}'));
    assert.throws(() => validateCommandTemplate('{binary} {}'), isInputError('command', 'unknown placeholder {}'));
  });

  it('rejects unclosed quotes, stray braces and missing templates', () => {
    assert.throws(() => validateCommandTemplate(`{binary} "--name {name}`), isInputError('command', 'unclosed " quote'));
    assert.throws(() => validateCommandTemplate(`{binary} 'x`), isInputError('command', "unclosed ' quote"));
    assert.throws(() => validateCommandTemplate('{binary} {name'), isInputError('command', "unmatched '{'"));
    assert.throws(() => validateCommandTemplate('{binary} name}'), isInputError('command', "unmatched '}'"));
    assert.throws(() => validateCommandTemplate('   '), isInputError('command', 'template'));
    assert.throws(() => genericProfile().launches(input()), isInputError('command', 'template'));
    assert.throws(() => validateCommandTemplate('"" {binary}'), isInputError('command', 'empty'));
    assert.doesNotThrow(() => validateCommandTemplate('/bin/sh -c "exec {binary}"'));
  });
});

describe('profileFor', () => {
  it('gives each profile by name', () => {
    assert.equal(profileFor('freenet').launches(input())[0]!.wsPath, '/v1/contract/command?encodingProtocol=native');
    assert.equal(profileFor('generic').launches(input({ command: '{binary}' }))[0]!.wsPath, '/');
  });
});
