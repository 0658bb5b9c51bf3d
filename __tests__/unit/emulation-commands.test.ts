/** The exact tc and iptables commands for every preset and for custom mixes, with and without netem. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import {
  EMU_CHAIN,
  EMU_IN_CHAIN,
  linkCommands,
  linkScript,
  mechanisms,
  netemArgs,
  netemMissingError,
  NetemMissingError,
  ifaceLookup,
  tbfBurst,
} from '../../src/emulation/commands.js';
import { NO_EMULATION, PRESETS, PRESET_NAMES, decodeState, encodeState, type EmulationSettings, type LinkState } from '../../src/emulation/settings.js';
import { netemVerdict } from '../../src/emulation/detect.js';

const custom = (s: Partial<EmulationSettings>): EmulationSettings => ({ ...NO_EMULATION, ...s });
const state = (s: Partial<EmulationSettings>, partitioned = false): LinkState => ({ settings: custom(s), partitioned });
const ROUTER = { iface: '$PUB', netem: true } as const;
const GATEWAY = { iface: '$NATNET_IF', exempt: '10.200.0.1', netem: true } as const;
const SHAPE = ['tc', 'qdisc', 'replace', 'dev', '$PUB', 'parent', '1:3'];

describe('netem: one qdisc carries every setting', () => {
  const expected: Record<string, string[]> = {
    lan: ['netem', 'delay', '1ms', '1ms'],
    regional: ['netem', 'delay', '40ms', '10ms', 'loss', '0.1%', '25%'],
    intercontinental: ['netem', 'delay', '125ms', '25ms', 'loss', '0.5%', '25%'],
    high_latency: ['netem', 'delay', '200ms', '30ms', 'loss', '1%', '25%'],
    challenging: ['netem', 'delay', '150ms', '50ms', 'loss', '3%', '50%'],
  };
  for (const preset of PRESET_NAMES) {
    it(`${preset}: ${expected[preset].join(' ')}`, () => {
      const c = linkCommands({ settings: PRESETS[preset], partitioned: false }, ROUTER);
      assert.deepEqual(c.shaping, [...SHAPE, ...expected[preset]]);
      // netem does the loss: no iptables drop rule besides the state marker.
      assert.doesNotMatch(c.rules, /statistic/);
      assert.deepEqual(Object.values(mechanisms(PRESETS[preset], true)).every((m) => m === 'netem'), true);
    });
  }

  it('custom mixes', () => {
    const cases: [Partial<EmulationSettings>, string[]][] = [
      [{ delayMs: 100 }, ['netem', 'delay', '100ms']],
      [{ delayMs: 100, jitterMs: 20 }, ['netem', 'delay', '100ms', '20ms']],
      [{ lossPercent: 2.5 }, ['netem', 'loss', '2.5%']],
      [{ lossPercent: 2.5, lossCorrelation: 30 }, ['netem', 'loss', '2.5%', '30%']],
      [{ rateBitsPerSecond: 10_000_000 }, ['netem', 'rate', '10mbit']],
      [{ rateBitsPerSecond: 1_500_000 }, ['netem', 'rate', '1500kbit']],
      [
        { delayMs: 80, jitterMs: 5, lossPercent: 0.25, lossCorrelation: 10, rateBitsPerSecond: 2_000_000 },
        ['netem', 'delay', '80ms', '5ms', 'loss', '0.25%', '10%', 'rate', '2mbit'],
      ],
      // A correlation without loss changes nothing.
      [{ delayMs: 5, lossCorrelation: 25 }, ['netem', 'delay', '5ms']],
    ];
    for (const [settings, args] of cases) {
      assert.deepEqual(netemArgs(custom(settings)), args);
      assert.deepEqual(linkCommands(state(settings), ROUTER).shaping, [...SHAPE, ...args]);
    }
  });

  it('no settings: a plain fifo under the shaped class', () => {
    assert.deepEqual(linkCommands(state({}), ROUTER).shaping, [...SHAPE, 'pfifo', 'limit', '1000']);
  });
});

describe('without netem: iptables statistic marks for loss, tbf for rate; delay and jitter refused', () => {
  const NO = { iface: '$PUB', netem: false } as const;

  for (const preset of PRESET_NAMES) {
    it(`${preset} needs netem (it has delay)`, () => {
      assert.throws(() => linkCommands({ settings: PRESETS[preset], partitioned: false }, NO), /need the netem qdisc/);
      assert.match(mechanisms(PRESETS[preset], false).delay, /unavailable: the kernel lacks sch_netem/);
    });
  }

  it('loss only: one CLASSIFY rule with the probability, into the drop class', () => {
    const c = linkCommands(state({ lossPercent: 3 }), NO);
    assert.deepEqual(c.shaping, [...SHAPE, 'pfifo', 'limit', '1000']);
    assert.equal(
      c.rules,
      [
        '*mangle',
        `:${EMU_CHAIN} - [0:0]`,
        `:${EMU_IN_CHAIN} - [0:0]`,
        `-A NATNET_EMU -m comment --comment "nat-net-state v1 delay=0 jitter=0 loss=3 corr=0 rate=0 partitioned=0"`,
        '-A NATNET_EMU -m statistic --mode random --probability 0.03 -m comment --comment "nat-net loss 3 percent: drop" -j CLASSIFY --set-class 1:2',
        'COMMIT',
        '',
      ].join('\n'),
    );
    assert.deepEqual(mechanisms(custom({ lossPercent: 3 }), false), { loss: 'iptables statistic CLASSIFY (mangle NATNET_EMU) -> htb drop class' });
  });

  it('probabilities of the presets’ loss values', () => {
    for (const [loss, p] of [
      [0.1, '0.001'],
      [0.5, '0.005'],
      [1, '0.01'],
      [3, '0.03'],
      [50, '0.5'],
      [100, '1'],
    ] as const) {
      assert.match(linkCommands(state({ lossPercent: loss }), NO).rules, new RegExp(`--probability ${p.replace('.', '\\.')} `));
    }
  });

  it('rate only: tbf with a bucket of at least 10 ms and a 100 ms queue', () => {
    assert.deepEqual(linkCommands(state({ rateBitsPerSecond: 1_000_000 }), NO).shaping, [...SHAPE, 'tbf', 'rate', '1mbit', 'burst', '4096', 'latency', '100ms']);
    assert.deepEqual(linkCommands(state({ rateBitsPerSecond: 100_000_000 }), NO).shaping, [
      ...SHAPE,
      'tbf',
      'rate',
      '100mbit',
      'burst',
      '125000',
      'latency',
      '100ms',
    ]);
    assert.equal(tbfBurst(10_000_000), 12500);
  });

  it('loss with correlation and rate: loss by marks, rate by tbf, correlation reported as not applied', () => {
    const s = custom({ lossPercent: 1, lossCorrelation: 25, rateBitsPerSecond: 10_000_000 });
    const c = linkCommands({ settings: s, partitioned: false }, NO);
    assert.deepEqual(c.shaping, [...SHAPE, 'tbf', 'rate', '10mbit', 'burst', '12500', 'latency', '100ms']);
    assert.match(c.rules, /--probability 0\.01 /);
    assert.deepEqual(mechanisms(s, false), {
      loss: 'iptables statistic CLASSIFY (mangle NATNET_EMU) -> htb drop class',
      'loss-correlation': 'not applied: without netem, drops are independent',
      rate: 'tbf (queue 100ms)',
    });
  });
});

describe('layout, exemption and partition', () => {
  it('the htb layout of a router interface: three classes and the drop class, no filter', () => {
    assert.deepEqual(linkCommands(state({}), ROUTER).layout, [
      ['tc', 'qdisc', 'replace', 'dev', '$PUB', 'root', 'handle', '1:', 'htb', 'default', '3'],
      ['tc', 'class', 'add', 'dev', '$PUB', 'parent', '1:', 'classid', '1:1', 'htb', 'rate', '10gbit', 'quantum', '60000'],
      ['tc', 'class', 'add', 'dev', '$PUB', 'parent', '1:', 'classid', '1:2', 'htb', 'rate', '10gbit', 'quantum', '60000'],
      ['tc', 'class', 'add', 'dev', '$PUB', 'parent', '1:', 'classid', '1:3', 'htb', 'rate', '10gbit', 'quantum', '60000'],
      ['tc', 'qdisc', 'add', 'dev', '$PUB', 'parent', '1:1', 'pfifo', 'limit', '1000'],
      ['tc', 'qdisc', 'add', 'dev', '$PUB', 'parent', '1:2', 'pfifo', 'limit', '0'],
    ]);
  });

  it('a node on the public network: traffic to the host bridge goes to the unshaped class and is never marked or cut', () => {
    const c = linkCommands(state({ lossPercent: 50 }, true), { ...GATEWAY, netem: false });
    assert.deepEqual(c.layout[6], [
      'tc',
      'filter',
      'add',
      'dev',
      '$NATNET_IF',
      'parent',
      '1:',
      'protocol',
      'ip',
      'prio',
      '1',
      'u32',
      'match',
      'ip',
      'dst',
      '10.200.0.1/32',
      'flowid',
      '1:1',
    ]);
    assert.equal(
      c.rules,
      [
        '*mangle',
        ':NATNET_EMU - [0:0]',
        ':NATNET_EMU_IN - [0:0]',
        '-A NATNET_EMU -m comment --comment "nat-net-state v1 delay=0 jitter=0 loss=50 corr=0 rate=0 partitioned=1"',
        '-A NATNET_EMU -d 10.200.0.1/32 -m comment --comment "nat-net: the host path is not shaped" -j RETURN',
        '-A NATNET_EMU -m comment --comment "nat-net partition: drop all sent" -j CLASSIFY --set-class 1:2',
        '-A NATNET_EMU -m statistic --mode random --probability 0.5 -m comment --comment "nat-net loss 50 percent: drop" -j CLASSIFY --set-class 1:2',
        '-A NATNET_EMU_IN -s 10.200.0.1/32 -m comment --comment "nat-net: the host path is not cut" -j RETURN',
        '-A NATNET_EMU_IN -m comment --comment "nat-net partition: drop all received" -j DROP',
        'COMMIT',
        '',
      ].join('\n'),
    );
  });

  it('partition on a netem kernel: the same CLASSIFY and DROP rules (netem keeps the settings)', () => {
    const c = linkCommands(state({ delayMs: 100 }, true), ROUTER);
    assert.deepEqual(c.shaping, [...SHAPE, 'netem', 'delay', '100ms']);
    assert.match(c.rules, /-A NATNET_EMU -m comment --comment "nat-net partition: drop all sent" -j CLASSIFY --set-class 1:2\n/);
    assert.match(c.rules, /-A NATNET_EMU_IN -m comment --comment "nat-net partition: drop all received" -j DROP\n/);
  });

  it('the jumps into the chains', () => {
    assert.deepEqual(linkCommands(state({}), ROUTER).hooks, [
      ['iptables', '-t', 'mangle', '-A', 'POSTROUTING', '-o', '$PUB', '-j', 'NATNET_EMU'],
      ['iptables', '-t', 'mangle', '-A', 'PREROUTING', '-i', '$PUB', '-j', 'NATNET_EMU_IN'],
    ]);
  });
});

describe('the sh script', () => {
  it('is valid sh, keeps the layout when present, and expands only the interface variable', () => {
    const lines = ['set -eu', ...ifaceLookup('NATNET_IF', '10.200.0.10'), ...linkScript(state({ lossPercent: 1, rateBitsPerSecond: 1_000_000 }, true), { ...GATEWAY, netem: false })];
    const script = lines.join('\n');
    const check = spawnSync('sh', ['-n', '-c', script]);
    assert.equal(check.status, 0, check.stderr.toString());
    assert.match(script, /^case "\$\(tc qdisc show dev "\$NATNET_IF" root\)" in 'qdisc htb 1: '\*\) ;; \*\)$/m);
    assert.match(script, /^tc qdisc replace dev "\$NATNET_IF" parent 1:3 tbf rate 1mbit burst 4096 latency 100ms$/m);
    assert.match(script, /^iptables -t mangle -C POSTROUTING -o "\$NATNET_IF" -j NATNET_EMU 2>\/dev\/null \|\| iptables -t mangle -A POSTROUTING -o "\$NATNET_IF" -j NATNET_EMU$/m);
    assert.match(script, /<<'NATNET_EMU_RULES'\n\*mangle\n/);
  });

  it('finds the interface by address and stops clearly when none has it', () => {
    const script = ['set -eu', ...ifaceLookup('NATNET_IF', '10.200.0.10'), 'echo "$NATNET_IF"'].join('\n');
    const fakeIp = `ip() { echo '7: eth3    inet 10.200.0.10/24 brd 10.200.0.255 scope global eth3'; }\n`;
    const found = spawnSync('sh', ['-c', fakeIp + script]);
    assert.equal(found.stdout.toString().trim(), 'eth3');
    const missing = spawnSync('sh', ['-c', `ip() { :; }\n${script}`]);
    assert.equal(missing.status, 71);
    assert.match(missing.stderr.toString(), /no interface has address 10\.200\.0\.10/);
  });
});

describe('state marker', () => {
  it('round-trips through the iptables -S output', () => {
    const s: LinkState = { settings: custom({ delayMs: 40, jitterMs: 10, lossPercent: 0.1, lossCorrelation: 25, rateBitsPerSecond: 10_000_000 }), partitioned: true };
    const listed = `-N NATNET_EMU\n-A NATNET_EMU -m comment --comment "${encodeState(s)}"\n-A NATNET_EMU -d 10.0.0.1/32 -j RETURN\n`;
    assert.deepEqual(decodeState(listed), s);
    assert.equal(decodeState('-N NATNET_EMU\n'), undefined);
    assert.equal(decodeState(''), undefined);
  });
});

describe('the error without netem', () => {
  it('names the input, the nodes, where the settings came from, and what to do', () => {
    const error = netemMissingError(
      'emulation',
      [{ who: 'gateway-0, peer-0', settings: PRESETS.high_latency, origin: "input 'emulation' (high_latency)" }],
      'nothing was created',
    );
    assert.ok(error instanceof NetemMissingError);
    assert.match(error.message, /^input 'emulation': asks for delay or jitter, but this kernel has no netem qdisc \(sch_netem/);
    assert.match(error.message, /nothing was created/);
    assert.match(error.message, /gateway-0, peer-0: delay 200 ms ± 30 ms, loss 1 % \(correlation 25 %\) \(from input 'emulation' \(high_latency\)\)/);
    assert.match(error.message, /modprobe sch_netem/);
    assert.match(error.message, /drop delay and jitter: loss-percent and rate work without netem/);
  });

  it('reads the netem probe', () => {
    assert.equal(netemVerdict(0, '', 'r'), true);
    assert.equal(netemVerdict(2, 'Error: Specified qdisc kind is unknown.\n', 'r'), false);
    assert.throws(() => netemVerdict(127, 'sh: 1: tc: not found', 'img:1'), /img:1 has no working tc/);
    assert.throws(() => netemVerdict(1, 'RTNETLINK answers: Operation not permitted... something else', 'img:1'), /cannot check for netem/);
  });
});
