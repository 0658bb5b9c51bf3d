import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { makePlan } from '../../src/plan/plan.js';
import { routerScript } from '../../src/nat/router-script.js';
import { genericProfile } from '../../src/profiles/generic.js';
import { InputError } from '../../src/spec/errors.js';
import { DEFAULT_SUBNET_POOL, parseSpec, type RawInputs } from '../../src/spec/parse.js';

let dir: string;
let binary: string;
let ctx: { cwd: string; env: NodeJS.ProcessEnv };

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'nat-net-spec-'));
  binary = join(dir, 'peer');
  writeFileSync(binary, '#!/bin/sh\n');
  chmodSync(binary, 0o755);
  writeFileSync(join(dir, 'not-executable'), 'x');
  chmodSync(join(dir, 'not-executable'), 0o644);
  mkdirSync(join(dir, 'a-dir'));
  chmodSync(join(dir, 'a-dir'), 0o755);
  ctx = { cwd: dir, env: {} };
});
after(() => rmSync(dir, { recursive: true, force: true }));

const parse = (raw: RawInputs) => parseSpec({ binary, ...raw }, ctx);

/** Asserts an InputError for `input` whose message contains each fragment. */
function rejects(raw: RawInputs, input: string, ...fragments: (string | RegExp)[]): void {
  assert.throws(
    () => parse(raw),
    (err: unknown) => {
      assert.ok(err instanceof InputError, `not an InputError: ${String(err)}`);
      assert.equal(err.input, input, `wrong input named: ${err.message}`);
      assert.ok(err.message.startsWith(`input '${input}': `), err.message);
      for (const f of fragments) {
        if (typeof f === 'string') assert.ok(err.message.includes(f), `'${err.message}' lacks '${f}'`);
        else assert.match(err.message, f);
      }
      return true;
    },
    JSON.stringify(raw),
  );
}

describe('spec defaults', () => {
  it('fills every default from a binary alone', () => {
    const s = parse({});
    assert.equal(s.name, 'default');
    assert.equal(s.gateways, 1);
    assert.equal(s.peers.length, 3);
    assert.deepEqual(s.peers, [0, 1, 2].map((index) => ({ index, nat: 'port-restricted', group: `peer-${index}` })));
    assert.equal(s.profile, 'freenet');
    assert.equal(s.command, undefined);
    assert.equal(s.wsPort, 9000);
    assert.equal(s.networkPort, 31337);
    assert.equal(s.readyTimeoutMs, 120_000);
    assert.equal(s.readyLog, undefined);
    assert.equal(s.subnetPool, DEFAULT_SUBNET_POOL);
    assert.equal(s.hairpin, false);
    assert.equal(s.udpTimeout, undefined);
    assert.equal(s.routerImage, undefined);
    assert.equal(s.peerImage, undefined);
    assert.equal(s.logLevel, 'info');
    assert.deepEqual(s.env, {});
    assert.equal(s.binary, binary);
  });

  it('treats empty and blank inputs as unset (how the runner passes an omitted input)', () => {
    const s = parse({ gateways: '', peers: '  ', name: '', 'ws-port': '', env: '' });
    assert.equal(s.gateways, 1);
    assert.equal(s.peers.length, 3);
    assert.equal(s.name, 'default');
    assert.equal(s.wsPort, 9000);
  });

  it('takes given values, trimming whitespace', () => {
    const s = parse({
      name: 'ci-1',
      gateways: ' 2 ',
      peers: '0',
      'ws-port': '9100',
      'network-port': '40000',
      'ready-timeout': '5',
      'subnet-pool': '172.30.0.0/16',
      hairpin: 'true',
      'udp-timeout': '30',
      'router-image': 'ghcr.io/org/router:1.2',
      'peer-image': 'nat-net-peer:2bd39ef4e8d9',
      env: 'A=1\n# comment\n\nB_2=x=y',
    });
    assert.equal(s.name, 'ci-1');
    assert.equal(s.gateways, 2);
    assert.deepEqual(s.peers, []);
    assert.equal(s.wsPort, 9100);
    assert.equal(s.networkPort, 40000);
    assert.equal(s.readyTimeoutMs, 5000);
    assert.equal(s.subnetPool, '172.30.0.0/16');
    assert.equal(s.hairpin, true);
    assert.equal(s.udpTimeout, 30);
    assert.equal(s.routerImage, 'ghcr.io/org/router:1.2');
    assert.deepEqual(s.env, { A: '1', B_2: 'x=y' });
  });

  it('resolves a relative binary from the workspace', () => {
    assert.equal(parseSpec({ binary: 'peer' }, ctx).binary, binary);
  });

  it('nat: one behaviour for all, or one per peer', () => {
    assert.deepEqual(parse({ peers: '2', nat: 'symmetric' }).peers.map((p) => p.nat), ['symmetric', 'symmetric']);
    assert.deepEqual(parse({ peers: '3', nat: 'full-cone, none,address-restricted' }).peers.map((p) => p.nat), ['full-cone', 'none', 'address-restricted']);
  });

  it('generic profile with a command template', () => {
    const s = parse({ profile: 'generic', command: '{binary} --port {network_port}' });
    assert.equal(s.profile, 'generic');
    assert.equal(s.command, '{binary} --port {network_port}');
  });
});

describe('spec: each bad input names the input', () => {
  it('numbers that are not whole numbers', () => {
    for (const bad of ['abc', '1.5', '-1', '1e3', '0x10', '3 peers', '+3']) {
      rejects({ peers: bad }, 'peers', 'not a whole number', 'allowed: 0 to 1000');
    }
    rejects({ gateways: 'two' }, 'gateways', 'not a whole number');
    rejects({ 'ws-port': '90a' }, 'ws-port', 'not a whole number');
    rejects({ 'network-port': '-5' }, 'network-port', 'not a whole number');
    rejects({ 'ready-timeout': '1m' }, 'ready-timeout', 'not a whole number');
    rejects({ 'udp-timeout': 'forever' }, 'udp-timeout', 'not a whole number');
  });

  it('numbers out of range', () => {
    rejects({ gateways: '0' }, 'gateways', 'out of range', 'allowed: 1 to 64');
    rejects({ gateways: '65' }, 'gateways', 'out of range');
    rejects({ peers: '1001' }, 'peers', 'out of range');
    rejects({ peers: '99999999999999999999999' }, 'peers', 'out of range');
    rejects({ 'ws-port': '0' }, 'ws-port', 'out of range', '1 to 65535');
    rejects({ 'ws-port': '65536' }, 'ws-port', 'out of range');
    rejects({ 'network-port': '70000' }, 'network-port', 'out of range');
    rejects({ 'ready-timeout': '0' }, 'ready-timeout', 'out of range');
    rejects({ 'udp-timeout': '0' }, 'udp-timeout', 'out of range');
  });

  it('bad names', () => {
    for (const bad of ['Upper', '-leading', 'under_score', 'a'.repeat(25), 'a b', 'a;b', 'a$(id)', 'a/b', 'é']) {
      rejects({ name: bad }, 'name', 'is not allowed');
    }
    assert.equal(parse({ name: 'a'.repeat(24) }).name, 'a'.repeat(24));
    assert.equal(parse({ name: '0-x' }).name, '0-x');
  });

  it('unknown profile and nat', () => {
    rejects({ profile: 'docker' }, 'profile', "'docker' is not allowed", 'freenet, generic');
    rejects({ nat: 'cone' }, 'nat', "'cone' is not allowed", 'port-restricted');
    rejects({ peers: '2', nat: 'symmetric,bogus' }, 'nat', "'bogus'");
    rejects({ peers: '3', nat: 'symmetric,full-cone' }, 'nat', 'lists 2 behaviours for 3 peers');
  });

  it('binary missing, absent, not executable, or a directory', () => {
    assert.throws(() => parseSpec({}, ctx), (e: unknown) => e instanceof InputError && e.input === 'binary' && /is required/.test(e.message));
    rejects({ binary: 'no-such-file' }, 'binary', 'does not exist', join(dir, 'no-such-file'));
    rejects({ binary: join(dir, 'not-executable') }, 'binary', 'not executable', 'chmod +x');
    rejects({ binary: join(dir, 'a-dir') }, 'binary', 'not a regular file');
  });

  it('generic without command, freenet with command, bad templates', () => {
    rejects({ profile: 'generic' }, 'command', "required with profile 'generic'");
    rejects({ command: '{binary}' }, 'command', 'only the generic profile');
    rejects({ profile: 'freenet', command: '{binary}' }, 'command', 'only the generic profile');
    rejects({ profile: 'generic', command: '{binary} --x {nope}' }, 'command', 'unknown placeholder {nope}');
    rejects({ profile: 'generic', command: '{binary} "unclosed' }, 'command', 'unclosed');
  });

  it('bad ready-log regex', () => {
    rejects({ 'ready-log': 'listening (on' }, 'ready-log', 'not a valid regular expression');
    assert.equal(parse({ 'ready-log': 'listening on \\d+' }).readyLog, 'listening on \\d+');
  });

  it('bad subnet-pool, and a pool too small', () => {
    rejects({ 'subnet-pool': 'ten-two-hundred' }, 'subnet-pool', 'not an IPv4 CIDR');
    rejects({ 'subnet-pool': '10.200.0.0' }, 'subnet-pool', 'not an IPv4 CIDR');
    rejects({ 'subnet-pool': '10.300.0.0/13' }, 'subnet-pool', 'not an IPv4 address');
    rejects({ 'subnet-pool': '10.200.0.1/13' }, 'subnet-pool', 'host bits set');
    rejects({ 'subnet-pool': '10.200.0.0/23' }, 'subnet-pool', 'too small');
    rejects({ 'subnet-pool': '10.200.0.0/24' }, 'subnet-pool', 'too small');
    assert.equal(parse({ 'subnet-pool': '10.200.0.0/22' }).subnetPool, '10.200.0.0/22');
  });

  it('ws-port equal to network-port', () => {
    rejects({ 'ws-port': '31337' }, 'ws-port', 'must differ from network-port');
    rejects({ 'ws-port': '4000', 'network-port': '4000' }, 'ws-port', 'must differ');
  });

  it('bad env lines', () => {
    rejects({ env: 'not a line' }, 'env', "'not a line' is not a KEY=VALUE line");
    rejects({ env: 'GOOD=1\n1BAD=2' }, 'env', '1BAD=2');
    rejects({ env: 'A-B=1' }, 'env', 'A-B=1');
    rejects({ env: '=1' }, 'env', 'KEY=VALUE');
  });

  it('bad booleans, images and log levels', () => {
    rejects({ hairpin: 'maybe' }, 'hairpin', 'not a boolean');
    rejects({ 'router-image': 'Upper/Case' }, 'router-image', 'not a Docker image reference');
    rejects({ 'peer-image': 'img;rm -rf /' }, 'peer-image', 'not a Docker image reference');
    rejects({ 'log-level': 'debug; id' }, 'log-level', 'not a RUST_LOG filter');
  });
});

describe('spec: shell metacharacters never reach a shell', () => {
  const metas = [';', '$(id)', '`id`', '|', '&', '>', '\n', "'", '"'];

  it('rejects them in the name, the images, the log level', () => {
    for (const m of metas) {
      rejects({ name: `net${m}x` }, 'name');
      rejects({ 'router-image': `router${m}x` }, 'router-image');
      rejects({ 'log-level': `info${m}x` }, 'log-level');
    }
  });

  it('env values, ready-log and template words carry them only as data: into argv and Env, never into a script', () => {
    const hostile = "$(touch /tmp/pwned); `id` | & > 'q' \"dq\"";
    const s = parse({
      profile: 'generic',
      command: `{binary} --x "${hostile.replace(/"/g, '')}" ';echo pwned'`,
      env: `EVIL=${hostile}`,
      'ready-log': '\\$\\(id\\);',
      peers: '2',
      name: 'meta',
    });
    const p = makePlan(s, {
      topologyId: 'meta-000001',
      createdAt: '2026-01-01T00:00:00.000Z',
      owner: 't',
      taken: [],
      routerImage: 'r:1',
      peerImage: 'p:1',
      profile: genericProfile(),
    });
    const plain = makePlan(parse({ profile: 'generic', command: '{binary}', peers: '2', name: 'meta' }), {
      topologyId: 'meta-000001',
      createdAt: '2026-01-01T00:00:00.000Z',
      owner: 't',
      taken: [],
      routerImage: 'r:1',
      peerImage: 'p:1',
      profile: genericProfile(),
    });
    for (const [i, node] of p.nodes.entries()) {
      // The one shell script in a node's Cmd is the same as for harmless inputs.
      assert.equal(node.launch[2], plain.nodes[i].launch[2]);
      assert.ok(node.command.includes(';echo pwned'), 'a quoted word stays one argv element');
      assert.equal(node.env.EVIL, hostile);
    }
    for (const [i, router] of p.routers.entries()) assert.equal(routerScript(router), routerScript(plain.routers[i]));
  });
});
