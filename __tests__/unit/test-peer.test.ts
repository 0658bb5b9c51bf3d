/**
 * Tests the built stand-in peer, dist/test-peer/nat-net-test-peer.cjs, as a black box: real
 * processes on 127.0.0.1 only, talking UDP to each other, checked through GET /status.
 * Build it first with `node test-peer/build.mjs`; tests run from the repo root.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';

const PEER_PROGRAM = path.resolve(process.cwd(), 'dist', 'test-peer', 'nat-net-test-peer.cjs');
const LOOPBACK = '127.0.0.1';

// --- the parts of /status these tests read -----------------------------------------------------

interface Status {
  role: string;
  publicKey: string;
  networkPort: number;
  isGateway: boolean;
  gateways: { address: string; publicKey: string; registered: boolean; observedAs: string | null }[];
  peers: { key: string; observed: string; hellos: number }[];
  direct: { key: string; addr: string; inbound: boolean; outbound: boolean; firstAt: number }[];
  counters: { sent: number; received: number; badMac: number; unknown: number };
}

// --- keys and files, in Freenet's format -------------------------------------------------------

interface KeyPairHex {
  secret: string;
  public: string;
}

function newKeyPair(): KeyPairHex {
  const jwk = crypto.generateKeyPairSync('x25519').privateKey.export({ format: 'jwk' });
  const hex = (b64url: string | undefined) => Buffer.from(String(b64url), 'base64url').toString('hex');
  return { secret: hex(jwk.d), public: hex(jwk.x) };
}

interface NodeFiles {
  dataDir: string;
  configDir: string;
  keypairFile: string;
  publicKeyFile: string;
  keys: KeyPairHex;
}

/** Writes a node's data dir, config dir, transport keypair and public_key.pem under `root`. */
function writeNodeFiles(root: string, name: string, gatewaysToml?: string): NodeFiles {
  const keys = newKeyPair();
  const dataDir = path.join(root, name, 'data');
  const configDir = path.join(root, name, 'config');
  fs.mkdirSync(dataDir, { recursive: true });
  fs.mkdirSync(configDir, { recursive: true });
  const keypairFile = path.join(root, name, 'transport_keypair');
  const publicKeyFile = path.join(configDir, 'public_key.pem');
  fs.writeFileSync(keypairFile, keys.secret);
  fs.writeFileSync(publicKeyFile, `${keys.public}\n`);
  if (gatewaysToml !== undefined) fs.writeFileSync(path.join(configDir, 'gateways.toml'), gatewaysToml);
  return { dataDir, configDir, keypairFile, publicKeyFile, keys };
}

function gatewaysTomlFor(gatewayPort: number, gatewayPublicKeyFile: string): string {
  return ['[[gateways]]', `address = { hostname = "${LOOPBACK}:${gatewayPort}" }`, `public_key = "${gatewayPublicKeyFile}"`, ''].join('\n');
}

// --- ports -------------------------------------------------------------------------------------

function freeUdpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket('udp4');
    socket.once('error', reject);
    socket.bind(0, LOOPBACK, () => {
      const { port } = socket.address();
      socket.close(() => resolve(port));
    });
  });
}

function freeTcpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, LOOPBACK, () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

// --- processes ---------------------------------------------------------------------------------

/** Every child started here, so the after hook can kill whatever a failed test left running. */
const children = new Set<ChildProcess>();

interface Running {
  child: ChildProcess;
  networkPort: number;
  wsPort: number;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function spawnPeer(args: string[], env: Record<string, string> = {}): Omit<Running, 'networkPort' | 'wsPort'> {
  const child = spawn(process.execPath, [PEER_PROGRAM, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let text = '';
  child.stdout?.on('data', (chunk: Buffer) => (text += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (text += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => {
      children.delete(child);
      resolve({ code, signal });
    });
  });
  return { child, output: () => text, exited };
}

function networkArgs(files: NodeFiles, networkPort: number, wsPort: number): string[] {
  return [
    'network',
    '--data-dir', files.dataDir,
    '--config-dir', files.configDir,
    '--ws-api-address', LOOPBACK,
    '--ws-api-port', String(wsPort),
    '--network-address', LOOPBACK,
    '--network-port', String(networkPort),
    '--transport-keypair', files.keypairFile,
  ];
}

async function startNode(files: NodeFiles, gateway: boolean, env: Record<string, string> = {}): Promise<Running> {
  const networkPort = await freeUdpPort();
  const wsPort = await freeTcpPort();
  const extra = gateway ? ['--public-network-address', LOOPBACK, '--public-network-port', String(networkPort), '--is-gateway'] : [];
  const running = spawnPeer([...networkArgs(files, networkPort, wsPort), ...extra], env);
  return { ...running, networkPort, wsPort };
}

/** Waits for a child to exit, killing it if it takes longer than `ms`. */
async function exitWithin(running: Pick<Running, 'child' | 'exited'>, ms: number) {
  const timer = setTimeout(() => running.child.kill('SIGKILL'), ms);
  try {
    return await running.exited;
  } finally {
    clearTimeout(timer);
  }
}

// --- HTTP and polling --------------------------------------------------------------------------

function httpGet(port: number, urlPath: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: LOOPBACK, port, path: urlPath, agent: false, timeout: 2_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${urlPath} timed out`)));
    req.on('error', reject);
  });
}

async function getStatus(node: Running): Promise<Status> {
  const { status, body } = await httpGet(node.wsPort, '/status');
  assert.equal(status, 200);
  return JSON.parse(body) as Status;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Polls until `check` returns true (connection errors count as "not yet": the node may still be
 * starting). On timeout, fails with `what` and the nodes' output, which says what did happen.
 */
async function waitUntil(what: string, ms: number, check: () => Promise<boolean>, nodes: Running[]): Promise<void> {
  const deadline = Date.now() + ms;
  let lastError = '';
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch (err) {
      lastError = err instanceof Error ? err.message : String(err);
    }
    await sleep(100);
  }
  const logs = nodes.map((n, i) => `--- node ${i} ---\n${n.output()}`).join('\n');
  assert.fail(`timed out after ${ms} ms waiting for ${what}${lastError ? ` (last error: ${lastError})` : ''}\n${logs}`);
}

// --- the wire format, written independently of the program so it checks the documented protocol --

function sign(body: Record<string, unknown>, sender: KeyPairHex, receiverPublic: string): Buffer {
  const privateKey = crypto.createPrivateKey({
    key: { kty: 'OKP', crv: 'X25519', d: Buffer.from(sender.secret, 'hex').toString('base64url'), x: Buffer.from(sender.public, 'hex').toString('base64url') },
    format: 'jwk',
  });
  const publicKey = crypto.createPublicKey({
    key: { kty: 'OKP', crv: 'X25519', x: Buffer.from(receiverPublic, 'hex').toString('base64url') },
    format: 'jwk',
  });
  const shared = crypto.diffieHellman({ privateKey, publicKey });
  const mac = crypto.createHmac('sha256', shared).update(JSON.stringify(body)).digest('hex');
  return Buffer.from(JSON.stringify({ ...body, mac }));
}

// --- tests -------------------------------------------------------------------------------------

describe('nat-net-test-peer', () => {
  let root = '';

  before(() => {
    assert.ok(fs.existsSync(PEER_PROGRAM), `${PEER_PROGRAM} is missing: run node test-peer/build.mjs`);
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'nat-net-test-peer-'));
  });

  after(() => {
    for (const child of children) child.kill('SIGKILL');
    if (root) fs.rmSync(root, { recursive: true, force: true });
  });

  test('the built file is an executable Node script', () => {
    assert.ok(fs.readFileSync(PEER_PROGRAM, 'utf8').startsWith('#!/usr/bin/env node\n'));
    assert.equal(fs.statSync(PEER_PROGRAM).mode & 0o777, 0o755);
  });

  test('a gateway and two peers register, learn each other and connect directly', async () => {
    const gwFiles = writeNodeFiles(root, 'gw');
    const gw = await startNode(gwFiles, true);
    const toml = gatewaysTomlFor(gw.networkPort, gwFiles.publicKeyFile);
    const p1 = await startNode(writeNodeFiles(root, 'p1', toml), false);
    const p2 = await startNode(writeNodeFiles(root, 'p2', toml), false);
    const nodes = [gw, p1, p2];
    try {
      // Both directions: p2 punches p1 as soon as it learns it, p1 punches p2 after its next
      // keep-alive (2 s) brings the updated peer list.
      let latest: Status[] = [];
      await waitUntil('registration and direct connections both ways', 15_000, async () => {
        latest = await Promise.all(nodes.map(getStatus));
        const [g, a, b] = latest;
        const linked = (x: Status, y: Status) => x.direct.some((d) => d.key === y.publicKey && d.inbound && d.outbound);
        return a.gateways[0]?.registered === true && b.gateways[0]?.registered === true && g.peers.length === 2 && linked(a, b) && linked(b, a);
      }, nodes);
      const [gwStatus, s1, s2] = latest;

      assert.equal(gwStatus.role, 'gateway');
      assert.equal(gwStatus.publicKey, gwFiles.keys.public);
      const observed = Object.fromEntries(gwStatus.peers.map((p) => [p.key, p.observed]));
      assert.deepEqual(observed, {
        [s1.publicKey]: `${LOOPBACK}:${p1.networkPort}`,
        [s2.publicKey]: `${LOOPBACK}:${p2.networkPort}`,
      });
      assert.equal(s1.role, 'peer');
      assert.equal(s1.gateways[0].publicKey, gwFiles.keys.public);
      assert.equal(s1.gateways[0].observedAs, `${LOOPBACK}:${p1.networkPort}`);
      assert.equal(s2.gateways[0].observedAs, `${LOOPBACK}:${p2.networkPort}`);
      assert.equal(s1.direct.find((d) => d.key === s2.publicKey)?.addr, `${LOOPBACK}:${p2.networkPort}`);
      assert.equal(s2.direct.find((d) => d.key === s1.publicKey)?.addr, `${LOOPBACK}:${p1.networkPort}`);
      for (const s of [gwStatus, s1, s2]) assert.equal(s.counters.badMac, 0);

      const probe = await httpGet(gw.wsPort, '/v1/contract/command?encodingProtocol=native');
      assert.deepEqual(probe, { status: 200, body: 'nat-net-test-peer' });
      assert.equal((await httpGet(gw.wsPort, '/nothing-here')).status, 404);

      // SIGTERM is how containers are stopped: it must exit cleanly.
      gw.child.kill('SIGTERM');
      assert.deepEqual(await exitWithin(gw, 5_000), { code: 0, signal: null });
    } finally {
      for (const n of nodes) n.child.kill('SIGKILL');
    }
  });

  test('a hello with a forged mac is dropped and counted; a signed one is welcomed', async () => {
    const gwFiles = writeNodeFiles(root, 'gw-mac');
    const gw = await startNode(gwFiles, true);
    const socket = dgram.createSocket('udp4');
    try {
      await new Promise<void>((resolve) => socket.bind(0, LOOPBACK, resolve));
      const replies: Buffer[] = [];
      socket.on('message', (data) => replies.push(data));
      const me = newKeyPair();
      const hello = { t: 'hello', from: me.public, role: 'peer' };
      await waitUntil('the gateway to listen', 5_000, async () => (await getStatus(gw)).networkPort === gw.networkPort, [gw]);

      // A correctly signed hello proves the wire format and gets a welcome back.
      socket.send(sign(hello, me, gwFiles.keys.public), gw.networkPort, LOOPBACK);
      await waitUntil('a welcome', 5_000, async () => replies.length > 0, [gw]);
      const welcome = JSON.parse(replies[0].toString()) as Record<string, unknown>;
      assert.equal(welcome.t, 'welcome');
      assert.equal(welcome.from, gwFiles.keys.public);
      assert.equal(welcome.observed, `${LOOPBACK}:${socket.address().port}`);

      // The same hello from a key whose secret we don't have: the mac cannot be right.
      const other = newKeyPair();
      const forged = { ...JSON.parse(sign(hello, me, gwFiles.keys.public).toString()), from: other.public };
      socket.send(Buffer.from(JSON.stringify(forged)), gw.networkPort, LOOPBACK);
      socket.send(Buffer.from(JSON.stringify({ ...hello, mac: 'ab'.repeat(32) })), gw.networkPort, LOOPBACK);
      await waitUntil('badMac to count both', 5_000, async () => (await getStatus(gw)).counters.badMac === 2, [gw]);
      const status = await getStatus(gw);
      assert.deepEqual(status.peers.map((p) => p.key), [me.public]);
      assert.equal(status.peers[0].hellos, 1);
      assert.equal(replies.length, 1, 'no welcome for forged hellos');
    } finally {
      socket.close();
      gw.child.kill('SIGKILL');
    }
  });

  test('a public_key.pem that does not match the transport keypair: exit 2', async () => {
    const files = writeNodeFiles(root, 'wrong-pem');
    fs.writeFileSync(files.publicKeyFile, `${newKeyPair().public}\n`);
    const run = spawnPeer([...networkArgs(files, 0, 0), '--is-gateway']);
    const result = await exitWithin(run, 10_000);
    assert.equal(result.code, 2, run.output());
    assert.match(run.output(), /public_key\.pem holds public key/);
  });

  test('a bad line in gateways.toml: exit 2, naming the line', async () => {
    const toml = ['# gateways', '[[gateways]]', `address = { hostname = "${LOOPBACK}:31337" }`, 'public_key = not-a-string', ''].join('\n');
    const files = writeNodeFiles(root, 'bad-toml', toml);
    const run = spawnPeer(networkArgs(files, 0, 0));
    const result = await exitWithin(run, 10_000);
    assert.equal(result.code, 2, run.output());
    assert.match(run.output(), /gateways\.toml line 4: .*public_key = not-a-string/);
  });

  test('the host/port address form and location are accepted', async () => {
    const gwFiles = writeNodeFiles(root, 'hostport-gw');
    const gw = await startNode(gwFiles, true);
    const toml = ['[[gateways]]', `address = { host = "${LOOPBACK}", port = ${gw.networkPort} }`, `public_key = "${gwFiles.publicKeyFile}"`, 'location = 0.5', ''].join('\n');
    const peer = await startNode(writeNodeFiles(root, 'hostport', toml), false);
    try {
      await waitUntil('registration', 10_000, async () => (await getStatus(peer)).gateways[0]?.registered === true, [gw, peer]);
      assert.equal((await getStatus(peer)).gateways[0].address, `${LOOPBACK}:${gw.networkPort}`);
    } finally {
      gw.child.kill('SIGKILL');
      peer.child.kill('SIGKILL');
    }
  });

  test('an unknown flag: exit 2', async () => {
    const files = writeNodeFiles(root, 'unknown-flag');
    const run = spawnPeer([...networkArgs(files, 0, 0), '--no-such-flag']);
    const result = await exitWithin(run, 10_000);
    assert.equal(result.code, 2, run.output());
    assert.match(run.output(), /unknown argument "--no-such-flag"/);
  });

  test('NAT_NET_TEST_PEER_EXIT_AFTER_MS: exits with code 3, saying so', async () => {
    const gw = await startNode(writeNodeFiles(root, 'exit-after'), true, { NAT_NET_TEST_PEER_EXIT_AFTER_MS: '300' });
    const result = await exitWithin(gw, 10_000);
    assert.equal(result.code, 3, gw.output());
    assert.match(gw.output(), /exiting on purpose/);
  });
});
