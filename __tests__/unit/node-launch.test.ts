import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { nodeLaunch, procRouteHex } from '../../src/plan/node-launch.js';

describe('procRouteHex', () => {
  it('writes a gateway as /proc/net/route does: little-endian, upper-case hex', () => {
    assert.equal(procRouteHex('10.200.1.1'), '0101C80A');
    assert.equal(procRouteHex('192.0.2.1'), '010200C0');
    assert.equal(procRouteHex('0.0.0.0'), '00000000');
    assert.equal(procRouteHex('255.255.255.255'), 'FFFFFFFF');
    assert.equal(procRouteHex('10.0.0.16'), '1000000A');
  });

  it('rejects a non-address', () => {
    assert.throws(() => procRouteHex('10.200.1'), /not an IPv4 address/);
  });
});

describe('nodeLaunch', () => {
  it('wraps the argv after a fixed script, passing it as positional parameters', () => {
    const a = nodeLaunch(['/bin/peer', '--flag', 'x'], '10.200.1.1');
    const b = nodeLaunch(['/other', '$(id)', '; reboot'], undefined);
    assert.deepEqual(a.launch.slice(0, 2), ['/bin/sh', '-c']);
    assert.deepEqual(a.launch.slice(3), ['nat-net-node', '/bin/peer', '--flag', 'x']);
    assert.deepEqual(b.launch.slice(3), ['nat-net-node', '/other', '$(id)', '; reboot']);
    assert.equal(a.launch[2], b.launch[2], 'the script must not depend on the argv or the route');
    assert.doesNotMatch(a.launch[2], /10\.200|peer/);
    assert.match(a.launch[2], /exec "\$@"/);
    assert.deepEqual(a.env, { NAT_NET_DEFAULT_ROUTE: '0101C80A' });
    assert.deepEqual(b.env, { NAT_NET_DEFAULT_ROUTE: 'none' });
  });

  // The real script against this machine's own routing table: no network traffic, no Docker.
  const routeFile = '/proc/net/route';
  const defaultGateway = (() => {
    if (!existsSync(routeFile)) return undefined;
    let last: string | undefined;
    for (const line of readFileSync(routeFile, 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f[1] === '00000000') last = f[2];
    }
    return last ?? 'none';
  })();

  it('execs the argv verbatim once the default route is as wanted (shell metacharacters stay literal)', { skip: defaultGateway === undefined }, () => {
    const argv = ['printf', '%s\\n', 'two words', '$(echo injected)', '; echo injected', '`echo injected`', "it's", '*'];
    const { launch } = nodeLaunch(argv, undefined);
    const out = execFileSync(launch[0], launch.slice(1), {
      env: { PATH: process.env.PATH, NAT_NET_DEFAULT_ROUTE: defaultGateway },
      encoding: 'utf8',
      timeout: 10_000,
    });
    assert.equal(out, ['two words', '$(echo injected)', '; echo injected', '`echo injected`', "it's", '*', ''].join('\n'));
  });
});
