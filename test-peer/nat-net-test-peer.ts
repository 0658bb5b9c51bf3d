/**
 * nat-net-test-peer: a small stand-in for the Freenet binary, used by nat-net's tests and demo.
 *
 * It accepts Freenet's command line (`freenet network --network-port ... --transport-keypair ...`)
 * and Freenet's key and gateway files, then does the part of a peer-to-peer node that a NAT test
 * network exercises: peers register with their gateways over UDP, gateways tell every peer which
 * public address they saw and which other peers exist, and peers punch holes to each other.
 * Everything it knows is served as JSON on GET /status, so tests can check what got through.
 *
 * It runs inside a Debian bookworm container with Node.js 18 and nothing else, so it uses only
 * Node's built-in modules and no API newer than Node 18. test-peer/build.mjs compiles it to
 * dist/test-peer/nat-net-test-peer.cjs.
 *
 * Wire format: every message is one UDP datagram holding one JSON object
 * {t: type, from: sender's public key (hex), ..., mac}. `mac` is the hex HMAC-SHA256 of the JSON
 * text of the object without `mac`, keyed with the X25519 shared secret of sender and receiver.
 */
import * as crypto from 'node:crypto';
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';

const PROGRAM = 'nat-net-test-peer';

/** Until a gateway has answered, a peer says hello this often, so registration is quick. */
const HELLO_INTERVAL_MS = 500;
/** Once registered, hellos only keep the NAT mapping and the gateway's record alive. */
const KEEPALIVE_INTERVAL_MS = 2_000;
/** A gateway that has not answered for this long counts as lost; hellos speed up again. */
const GATEWAY_TIMEOUT_MS = 10_000;
/** Punches go out this often to each peer being punched... */
const PUNCH_INTERVAL_MS = 300;
/** ...for at most this long after learning the peer, so a dead peer costs bounded traffic. */
const PUNCH_WINDOW_MS = 20_000;
/** Gateways leave peers silent for this long out of welcome lists (they are probably gone). */
const STALE_PEER_MS = 15_000;
/** Keeps a welcome well inside one UDP datagram (about 100 bytes per peer). */
const MAX_WELCOME_PEERS = 100;
/** Freenet's default network port, used when a gateway address has no port. */
const DEFAULT_GATEWAY_PORT = 31337;
/** Shared secrets are cached per peer key; the cap stops forged keys from growing it forever. */
const MAX_CACHED_SECRETS = 4_096;

// DER wrappers that turn 32 raw X25519 key bytes into keys node:crypto can load
// (RFC 8410: PKCS#8 for the secret key, SubjectPublicKeyInfo for the public key).
const PKCS8_X25519_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');
const SPKI_X25519_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');
const KEY_HEX = /^[0-9a-fA-F]{64}$/;

// ---------------------------------------------------------------------------------------------
// Errors and logging

/** A problem with the command line or the configuration files: reported, then exit code 2. */
class ConfigError extends Error {}

function log(message: string): void {
  process.stdout.write(`${new Date().toISOString()} ${PROGRAM}: ${message}\n`);
}

function logError(message: string): void {
  process.stderr.write(`${new Date().toISOString()} ${PROGRAM}: ${message}\n`);
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

// ---------------------------------------------------------------------------------------------
// Command line: `network` followed by Freenet's flags

interface Options {
  dataDir: string;
  configDir: string;
  wsApiAddress: string;
  wsApiPort: number;
  networkAddress: string;
  networkPort: number;
  publicNetworkAddress: string | null;
  publicNetworkPort: number | null;
  isGateway: boolean;
  skipLoadFromNetwork: boolean;
  transportKeypair: string;
}

const VALUE_FLAGS = [
  '--data-dir',
  '--config-dir',
  '--ws-api-address',
  '--ws-api-port',
  '--network-address',
  '--network-port',
  '--public-network-address',
  '--public-network-port',
  '--transport-keypair',
];
const BOOLEAN_FLAGS = ['--is-gateway', '--skip-load-from-network'];
/** Everything nat-net always passes; a missing one means the caller is broken, so say so early. */
const REQUIRED_FLAGS = [
  '--data-dir',
  '--config-dir',
  '--ws-api-address',
  '--ws-api-port',
  '--network-address',
  '--network-port',
  '--transport-keypair',
];

const USAGE = `usage: ${PROGRAM} network --data-dir DIR --config-dir DIR --ws-api-address ADDR --ws-api-port N
         --network-address ADDR --network-port N --transport-keypair FILE
         [--public-network-address IP] [--public-network-port N] [--is-gateway] [--skip-load-from-network]
environment: NAT_NET_TEST_PEER_EXIT_AFTER_MS=N (exit 3 after N ms), NAT_NET_TEST_PEER_NO_PUNCH=1 (no hole punching)`;

function parseArgs(argv: string[]): Options {
  if (argv[0] !== 'network') {
    const got = argv[0] === undefined ? 'nothing' : JSON.stringify(argv[0]);
    throw new ConfigError(`expected the subcommand "network" first (as in "freenet network ..."), got ${got}`);
  }
  const values = new Map<string, string>();
  const flags = new Set<string>();
  for (let i = 1; i < argv.length; i++) {
    const arg = argv[i];
    // Accept both `--flag value` and `--flag=value`, as Freenet's argument parser does.
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    const inlineValue = eq > 0 ? arg.slice(eq + 1) : undefined;
    if (BOOLEAN_FLAGS.includes(name)) {
      if (inlineValue !== undefined) throw new ConfigError(`${name} takes no value, got ${JSON.stringify(arg)}`);
      flags.add(name);
    } else if (VALUE_FLAGS.includes(name)) {
      const value = inlineValue ?? argv[++i];
      if (value === undefined || (inlineValue === undefined && value.startsWith('--'))) {
        throw new ConfigError(`${name} needs a value`);
      }
      if (values.has(name)) throw new ConfigError(`${name} is given twice`);
      values.set(name, value);
    } else {
      throw new ConfigError(`unknown argument ${JSON.stringify(arg)}`);
    }
  }
  const missing = REQUIRED_FLAGS.filter((flag) => !values.has(flag));
  if (missing.length > 0) throw new ConfigError(`missing ${missing.join(', ')}`);

  const optionalPort = values.get('--public-network-port');
  return {
    dataDir: values.get('--data-dir') as string,
    configDir: values.get('--config-dir') as string,
    wsApiAddress: values.get('--ws-api-address') as string,
    wsApiPort: parsePort('--ws-api-port', values.get('--ws-api-port') as string),
    networkAddress: values.get('--network-address') as string,
    networkPort: parsePort('--network-port', values.get('--network-port') as string),
    publicNetworkAddress: values.get('--public-network-address') ?? null,
    publicNetworkPort: optionalPort === undefined ? null : parsePort('--public-network-port', optionalPort),
    isGateway: flags.has('--is-gateway'),
    skipLoadFromNetwork: flags.has('--skip-load-from-network'),
    transportKeypair: values.get('--transport-keypair') as string,
  };
}

/** Port 0 is allowed (the system picks one; /status and the log show which). */
function parsePort(what: string, text: string): number {
  const port = /^\d{1,5}$/.test(text) ? Number(text) : NaN;
  if (!(port >= 0 && port <= 65535)) throw new ConfigError(`${what}: expected a port number 0-65535, got ${JSON.stringify(text)}`);
  return port;
}

interface EnvOptions {
  exitAfterMs: number | null;
  punch: boolean;
}

function parseEnv(env: NodeJS.ProcessEnv): EnvOptions {
  const exitAfter = env.NAT_NET_TEST_PEER_EXIT_AFTER_MS;
  let exitAfterMs: number | null = null;
  if (exitAfter !== undefined && exitAfter !== '') {
    if (!/^\d+$/.test(exitAfter)) {
      throw new ConfigError(`NAT_NET_TEST_PEER_EXIT_AFTER_MS: expected a number of milliseconds, got ${JSON.stringify(exitAfter)}`);
    }
    exitAfterMs = Number(exitAfter);
  }
  return { exitAfterMs, punch: env.NAT_NET_TEST_PEER_NO_PUNCH !== '1' };
}

// ---------------------------------------------------------------------------------------------
// Keys, in Freenet's format: 64 hex characters holding 32 raw X25519 bytes

/** Reads a key file; surrounding whitespace is tolerated, anything else is an error. */
function readKeyFile(file: string, what: string): Buffer {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`${what} ${file}: cannot read: ${errorText(err)}`);
  }
  const hex = text.trim();
  if (!KEY_HEX.test(hex)) {
    throw new ConfigError(`${what} ${file}: expected 64 hex characters (a 32-byte X25519 key), found ${hex.length} characters`);
  }
  return Buffer.from(hex, 'hex');
}

function privateKeyFromSecret(secret: Buffer): crypto.KeyObject {
  return crypto.createPrivateKey({ key: Buffer.concat([PKCS8_X25519_PREFIX, secret]), format: 'der', type: 'pkcs8' });
}

function publicKeyFromHex(hex: string): crypto.KeyObject {
  const raw = Buffer.from(hex, 'hex');
  return crypto.createPublicKey({ key: Buffer.concat([SPKI_X25519_PREFIX, raw]), format: 'der', type: 'spki' });
}

function publicKeyHexOf(privateKey: crypto.KeyObject): string {
  const jwk = crypto.createPublicKey(privateKey).export({ format: 'jwk' });
  return Buffer.from(String(jwk.x), 'base64url').toString('hex');
}

/** This node's identity, and the per-peer HMAC keys derived from it. */
class Identity {
  readonly publicHex: string;
  private readonly privateKey: crypto.KeyObject;
  private readonly secrets = new Map<string, Buffer>();

  constructor(secret: Buffer) {
    this.privateKey = privateKeyFromSecret(secret);
    this.publicHex = publicKeyHexOf(this.privateKey);
  }

  /** The X25519 shared secret with a peer, or null when its key is not a usable X25519 key. */
  sharedSecret(peerHex: string): Buffer | null {
    const cached = this.secrets.get(peerHex);
    if (cached) return cached;
    if (!KEY_HEX.test(peerHex)) return null;
    let secret: Buffer;
    try {
      secret = crypto.diffieHellman({ privateKey: this.privateKey, publicKey: publicKeyFromHex(peerHex) });
    } catch {
      return null; // e.g. a low-order point: OpenSSL refuses the all-zero result
    }
    if (this.secrets.size >= MAX_CACHED_SECRETS) this.secrets.clear();
    this.secrets.set(peerHex, secret);
    return secret;
  }
}

// ---------------------------------------------------------------------------------------------
// gateways.toml: just the subset Freenet writes, and anything else is rejected with its line

interface GatewayConfig {
  /** "host:port" as written (hostname form) or assembled (host/port form). */
  address: string;
  host: string;
  port: number;
  publicKey: string;
  location: number | null;
}

type TomlScalar = string | number;
type TomlValue = TomlScalar | { [key: string]: TomlScalar };

interface TomlField {
  value: TomlValue;
  line: number;
}

interface TomlTable {
  line: number;
  fields: Map<string, TomlField>;
}

/** Reads one line of TOML from left to right; every complaint names the line. */
class TomlLine {
  private pos = 0;

  constructor(
    private readonly text: string,
    private readonly where: string,
  ) {}

  fail(why: string): never {
    throw new ConfigError(`${this.where}: ${why}: ${this.text.trim()}`);
  }

  skipSpace(): void {
    while (this.pos < this.text.length && (this.text[this.pos] === ' ' || this.text[this.pos] === '\t')) this.pos++;
  }

  /** True at the end of the line or at a comment. */
  atEnd(): boolean {
    this.skipSpace();
    return this.pos >= this.text.length || this.text[this.pos] === '#';
  }

  endOfLine(): void {
    if (!this.atEnd()) this.fail(`unexpected ${JSON.stringify(this.text.slice(this.pos))}`);
  }

  lookingAt(token: string): boolean {
    this.skipSpace();
    return this.text.startsWith(token, this.pos);
  }

  expect(token: string): void {
    if (!this.lookingAt(token)) this.fail(`expected "${token}"`);
    this.pos += token.length;
  }

  bareKey(): string {
    this.skipSpace();
    const match = /^[A-Za-z0-9_-]+/.exec(this.text.slice(this.pos));
    if (!match) this.fail('expected a key (letters, digits, "_" or "-")');
    this.pos += match[0].length;
    return match[0];
  }

  value(): TomlValue {
    return this.lookingAt('{') ? this.inlineTable() : this.scalar();
  }

  private scalar(): TomlScalar {
    this.skipSpace();
    const c = this.text[this.pos];
    if (c === '"') return this.basicString();
    if (c === "'") return this.literalString();
    const match = /^[+-]?\d[\d_]*(\.\d[\d_]*)?([eE][+-]?\d+)?/.exec(this.text.slice(this.pos));
    if (!match) this.fail('expected a string, a number or an inline table { ... }');
    this.pos += match[0].length;
    return Number(match[0].replace(/_/g, ''));
  }

  private inlineTable(): { [key: string]: TomlScalar } {
    this.expect('{');
    const table: { [key: string]: TomlScalar } = {};
    if (this.lookingAt('}')) {
      this.pos++;
      return table;
    }
    for (;;) {
      const key = this.bareKey();
      if (Object.prototype.hasOwnProperty.call(table, key)) this.fail(`duplicate key "${key}"`);
      this.expect('=');
      if (this.lookingAt('{')) this.fail('nested inline tables are not supported');
      table[key] = this.scalar();
      if (this.lookingAt('}')) {
        this.pos++;
        return table;
      }
      this.expect(',');
    }
  }

  private basicString(): string {
    const escapes: Record<string, string> = { '"': '"', '\\': '\\', n: '\n', t: '\t', r: '\r', b: '\b', f: '\f' };
    let out = '';
    this.pos++; // opening quote
    while (this.pos < this.text.length) {
      const c = this.text[this.pos++];
      if (c === '"') return out;
      if (c !== '\\') {
        out += c;
        continue;
      }
      const e = this.text[this.pos++];
      if (e !== undefined && escapes[e] !== undefined) {
        out += escapes[e];
      } else if (e === 'u' || e === 'U') {
        const digits = e === 'u' ? 4 : 8;
        const hex = this.text.slice(this.pos, this.pos + digits);
        if (!new RegExp(`^[0-9a-fA-F]{${digits}}$`).test(hex)) this.fail('bad \\u escape in string');
        out += String.fromCodePoint(parseInt(hex, 16));
        this.pos += digits;
      } else {
        this.fail(`unsupported escape \\${e ?? ''} in string`);
      }
    }
    return this.fail('unterminated string');
  }

  private literalString(): string {
    const end = this.text.indexOf("'", this.pos + 1);
    if (end < 0) this.fail('unterminated string');
    const out = this.text.slice(this.pos + 1, end);
    this.pos = end + 1;
    return out;
  }
}

/** Splits gateways.toml into its [[gateways]] tables of key = value fields. */
function parseTomlTables(text: string, file: string): TomlTable[] {
  const tables: TomlTable[] = [];
  let current: TomlTable | null = null;
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    // Typed explicitly so TypeScript sees that line.fail() never returns.
    const line: TomlLine = new TomlLine(lines[i], `${file} line ${lineNo}`);
    if (line.atEnd()) continue; // blank line or comment
    if (line.lookingAt('[[')) {
      line.expect('[[');
      const name = line.bareKey();
      line.expect(']]');
      line.endOfLine();
      if (name !== 'gateways') line.fail('only [[gateways]] tables are supported');
      current = { line: lineNo, fields: new Map() };
      tables.push(current);
      continue;
    }
    if (line.lookingAt('[')) line.fail('only [[gateways]] tables are supported');
    // `gateways = []` is how a file with no gateway says so (Freenet needs the key).
    if (!current && /^\s*gateways\s*=\s*\[\s*\]\s*(#.*)?$/.test(lines[i])) continue;
    if (!current) line.fail('key = value outside a [[gateways]] table');
    const key = line.bareKey();
    line.expect('=');
    const value = line.value();
    line.endOfLine();
    if (current.fields.has(key)) line.fail(`duplicate key "${key}"`);
    current.fields.set(key, { value, line: lineNo });
  }
  return tables;
}

/** Turns a [[gateways]] table into a gateway: checks its keys and reads its public key file. */
function gatewayFromTable(table: TomlTable, file: string, configDir: string): GatewayConfig {
  const at = (line: number) => `${file} line ${line}`;
  for (const [key, field] of table.fields) {
    if (key !== 'address' && key !== 'public_key' && key !== 'location') {
      throw new ConfigError(`${at(field.line)}: unknown key "${key}" (expected address, public_key, location)`);
    }
  }
  const address = table.fields.get('address');
  const publicKey = table.fields.get('public_key');
  const location = table.fields.get('location');
  if (!address) throw new ConfigError(`${at(table.line)}: this [[gateways]] entry has no address`);
  if (!publicKey) throw new ConfigError(`${at(table.line)}: this [[gateways]] entry has no public_key`);
  if (typeof publicKey.value !== 'string') throw new ConfigError(`${at(publicKey.line)}: public_key must be a string (a file path)`);
  if (location && typeof location.value !== 'number') throw new ConfigError(`${at(location.line)}: location must be a number`);

  const { host, port } = gatewayAddress(address.value, at(address.line));
  // A relative key path is taken relative to the config directory, where nat-net puts the files.
  const keyFile = path.resolve(configDir, publicKey.value);
  const keyHex = readKeyFile(keyFile, `${at(publicKey.line)}: public_key`).toString('hex');
  return {
    address: formatAddress(host, port),
    host,
    port,
    publicKey: keyHex,
    location: location ? (location.value as number) : null,
  };
}

/** Accepts { hostname = "host:port" } (port optional) or { host = "host", port = N }. */
function gatewayAddress(value: TomlValue, where: string): { host: string; port: number } {
  const bad = (why: string): never => {
    throw new ConfigError(`${where}: address ${why} (expected { hostname = "ip:port" } or { host = "ip", port = 31337 })`);
  };
  if (typeof value !== 'object') return bad('must be an inline table');
  const keys = Object.keys(value).sort().join(',');
  if (keys === 'hostname') {
    if (typeof value.hostname !== 'string') return bad('hostname must be a string');
    const split = splitHostPort(value.hostname, DEFAULT_GATEWAY_PORT);
    return split ?? bad(`hostname ${JSON.stringify(value.hostname)} is not "host:port"`);
  }
  if (keys === 'host' || keys === 'host,port') {
    if (typeof value.host !== 'string' || value.host === '') return bad('host must be a non-empty string');
    const port = value.port ?? DEFAULT_GATEWAY_PORT;
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) return bad('port must be 1-65535');
    return { host: value.host, port };
  }
  return bad(`has keys {${keys}}`);
}

function loadGateways(configDir: string): GatewayConfig[] {
  const file = path.join(configDir, 'gateways.toml');
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new ConfigError(`${file}: cannot read: ${errorText(err)}`);
  }
  return parseTomlTables(text, file).map((table) => gatewayFromTable(table, file, configDir));
}

// ---------------------------------------------------------------------------------------------
// Addresses

/** "1.2.3.4:5", "name:5", "[::1]:5" or, with a default port, just the host. */
function splitHostPort(text: string, defaultPort?: number): { host: string; port: number } | null {
  let host = text;
  let portText: string | undefined;
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  if (bracketed) {
    host = bracketed[1];
    portText = bracketed[2];
  } else if (text.indexOf(':') >= 0 && text.indexOf(':') === text.lastIndexOf(':')) {
    host = text.slice(0, text.indexOf(':'));
    portText = text.slice(text.indexOf(':') + 1);
  } else if (text.indexOf(':') >= 0) {
    return null; // a bare IPv6 address is ambiguous; it needs brackets
  }
  if (host === '') return null;
  if (portText === undefined) return defaultPort === undefined ? null : { host, port: defaultPort };
  const port = /^\d{1,5}$/.test(portText) ? Number(portText) : NaN;
  return port >= 1 && port <= 65535 ? { host, port } : null;
}

function formatAddress(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

// ---------------------------------------------------------------------------------------------
// Messages

type Message = { t: string; from: string; mac: string } & Record<string, unknown>;

function macOf(key: Buffer, json: string): string {
  return crypto.createHmac('sha256', key).update(json).digest('hex');
}

/** Serialises a message with its mac appended as the last field. */
function encodeMessage(body: Record<string, unknown>, key: Buffer): Buffer {
  const json = JSON.stringify(body);
  return Buffer.from(JSON.stringify({ ...body, mac: macOf(key, json) }));
}

/** Parses a datagram into a message with the fields every message has, or null. */
function decodeMessage(data: Buffer): Message | null {
  let value: unknown;
  try {
    value = JSON.parse(data.toString('utf8'));
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
  const msg = value as Record<string, unknown>;
  if (typeof msg.t !== 'string' || typeof msg.from !== 'string' || typeof msg.mac !== 'string') return null;
  return msg as Message;
}

/**
 * Checks the mac with the key the sender claims (`from`). Only the holder of that key's secret
 * (or of ours) can compute it, so a valid mac proves the claim.
 */
function verifyMessage(msg: Message, identity: Identity): boolean {
  const key = identity.sharedSecret(msg.from.toLowerCase());
  if (!key || !/^[0-9a-f]{64}$/.test(msg.mac)) return false;
  // JSON.parse keeps field order, so re-serialising without mac gives back the signed text.
  const { mac, ...body } = msg;
  const expected = Buffer.from(macOf(key, JSON.stringify(body)), 'hex');
  return crypto.timingSafeEqual(expected, Buffer.from(mac, 'hex'));
}

// ---------------------------------------------------------------------------------------------
// The node

interface GatewayState extends GatewayConfig {
  /** The gateway's key is our own key: gateways often list themselves; we skip that entry. */
  self: boolean;
  registered: boolean;
  observedAs: string | null;
  registeredAt: number | null;
  lastWelcomeAt: number | null;
  lastHelloAt: number;
}

/** What a gateway keeps about a peer that said hello. */
interface Registration {
  key: string;
  role: string;
  observed: string;
  firstSeen: number;
  lastSeen: number;
  hellos: number;
}

type PunchState = 'punching' | 'acked' | 'gave-up' | 'disabled';

/** A peer learned from a gateway's welcome. */
interface LearnedPeer {
  key: string;
  addr: string;
  via: string;
  learnedAt: number;
  punch: PunchState;
  punchesSent: number;
}

/** A peer whose messages reached us directly (not through a gateway). */
interface DirectConnection {
  key: string;
  addr: string;
  inbound: boolean;
  outbound: boolean;
  firstAt: number;
  lastAt: number;
}

class TestPeer {
  private readonly startedAt = Date.now();
  private readonly socket: dgram.Socket;
  private readonly server: http.Server;
  private readonly gateways: GatewayState[];
  private readonly registrations = new Map<string, Registration>();
  private readonly learned = new Map<string, LearnedPeer>();
  private readonly direct = new Map<string, DirectConnection>();
  private readonly counters = { sent: 0, received: 0, badMac: 0, unknown: 0 };
  /** Last send error per destination, so a dead address logs once rather than every tick. */
  private readonly sendErrors = new Map<string, string>();
  private readonly timers: NodeJS.Timeout[] = [];
  private stopping = false;

  constructor(
    private readonly opts: Options,
    private readonly env: EnvOptions,
    private readonly identity: Identity,
    gateways: GatewayConfig[],
  ) {
    this.gateways = gateways.map((g) => ({
      ...g,
      self: g.publicKey === identity.publicHex,
      registered: false,
      observedAs: null,
      registeredAt: null,
      lastWelcomeAt: null,
      lastHelloAt: 0,
    }));
    this.socket = dgram.createSocket(opts.networkAddress.includes(':') ? 'udp6' : 'udp4');
    this.server = http.createServer((req, res) => this.onHttp(req, res));
  }

  async start(): Promise<void> {
    await this.bindUdp();
    await this.listenHttp();
    const udp = this.socket.address();
    const ws = this.server.address() as { port: number };
    const role = this.opts.isGateway ? 'gateway' : 'peer';
    log(`listening on udp ${formatAddress(udp.address, udp.port)} as ${role} ${this.identity.publicHex}; status on http://${formatAddress(this.opts.wsApiAddress, ws.port)}/status`);
    for (const g of this.gateways) {
      log(g.self ? `gateway ${g.address} is this node; not registering with it` : `gateway ${g.address} key ${g.publicKey}`);
    }
    if (!this.env.punch) log('hole punching disabled (NAT_NET_TEST_PEER_NO_PUNCH=1)');

    this.socket.on('message', (data, rinfo) => this.onDatagram(data, formatAddress(rinfo.address, rinfo.port)));
    this.timers.push(setInterval(() => this.helloTick(), HELLO_INTERVAL_MS));
    this.timers.push(setInterval(() => this.punchTick(), PUNCH_INTERVAL_MS));
    this.helloTick();
    if (this.env.exitAfterMs !== null) {
      const ms = this.env.exitAfterMs;
      this.timers.push(
        setTimeout(() => {
          logError(`exiting on purpose after ${ms} ms (NAT_NET_TEST_PEER_EXIT_AFTER_MS)`);
          this.stop(3);
        }, ms),
      );
    }
  }

  /** Closes the socket and the status server, then exits (we may be PID 1 in a container). */
  stop(code: number): void {
    if (this.stopping) return;
    this.stopping = true;
    for (const timer of this.timers) clearTimeout(timer);
    try {
      this.socket.close();
    } catch {
      // not bound yet: nothing to close
    }
    this.server.close();
    process.exit(code);
  }

  private bindUdp(): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(new Error(`cannot bind udp ${formatAddress(this.opts.networkAddress, this.opts.networkPort)}: ${err.message}`));
      this.socket.once('error', onError);
      this.socket.bind(this.opts.networkPort, this.opts.networkAddress, () => {
        this.socket.off('error', onError);
        this.socket.on('error', (err) => logError(`udp socket error: ${err.message}`));
        resolve();
      });
    });
  }

  private listenHttp(): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(new Error(`cannot listen on http ${formatAddress(this.opts.wsApiAddress, this.opts.wsApiPort)}: ${err.message}`));
      this.server.once('error', onError);
      this.server.listen(this.opts.wsApiPort, this.opts.wsApiAddress, () => {
        this.server.off('error', onError);
        this.server.on('error', (err) => logError(`http server error: ${err.message}`));
        resolve();
      });
    });
  }

  // --- sending -------------------------------------------------------------------------------

  /** Signs a message for the peer with key `toKey` and sends it to host:port. */
  private send(host: string, port: number, toKey: string, body: Record<string, unknown>): void {
    const key = this.identity.sharedSecret(toKey);
    if (!key) {
      logError(`not sending ${String(body.t)} to ${formatAddress(host, port)}: unusable public key ${toKey}`);
      return;
    }
    const dest = formatAddress(host, port);
    this.counters.sent++;
    this.socket.send(encodeMessage(body, key), port, host, (err) => {
      if (err) {
        if (this.sendErrors.get(dest) !== err.message) logError(`cannot send to ${dest}: ${err.message}`);
        this.sendErrors.set(dest, err.message);
      } else {
        this.sendErrors.delete(dest);
      }
    });
  }

  private sendTo(addr: string, toKey: string, body: Record<string, unknown>): void {
    const split = splitHostPort(addr);
    if (split) this.send(split.host, split.port, toKey, body);
  }

  // --- periodic work ---------------------------------------------------------------------------

  /** Says hello to each gateway: quickly until it answers, then as a keep-alive. */
  private helloTick(): void {
    const now = Date.now();
    for (const g of this.gateways) {
      if (g.self) continue;
      if (g.registered && g.lastWelcomeAt !== null && now - g.lastWelcomeAt > GATEWAY_TIMEOUT_MS) {
        g.registered = false;
        log(`lost gateway ${g.address}: no welcome for ${GATEWAY_TIMEOUT_MS} ms`);
      }
      if (g.registered && now - g.lastHelloAt < KEEPALIVE_INTERVAL_MS) continue;
      g.lastHelloAt = now;
      this.send(g.host, g.port, g.publicKey, { t: 'hello', from: this.identity.publicHex, role: this.opts.isGateway ? 'gateway' : 'peer' });
    }
  }

  /** Punches every peer still being punched, and gives up on those past the window. */
  private punchTick(): void {
    const now = Date.now();
    for (const peer of this.learned.values()) {
      if (peer.punch !== 'punching') continue;
      if (now - peer.learnedAt >= PUNCH_WINDOW_MS) {
        peer.punch = 'gave-up';
        log(`gave up punching peer ${peer.key} at ${peer.addr} after ${PUNCH_WINDOW_MS} ms without an answer`);
        continue;
      }
      this.punch(peer);
    }
  }

  private punch(peer: LearnedPeer): void {
    peer.punchesSent++;
    this.sendTo(peer.addr, peer.key, { t: 'punch', from: this.identity.publicHex });
  }

  // --- receiving -------------------------------------------------------------------------------

  private onDatagram(data: Buffer, src: string): void {
    this.counters.received++;
    const msg = decodeMessage(data);
    if (!msg) {
      this.counters.unknown++;
      return;
    }
    if (!verifyMessage(msg, this.identity)) {
      this.counters.badMac++;
      return;
    }
    const from = msg.from.toLowerCase();
    switch (msg.t) {
      case 'hello':
        return this.onHello(msg, from, src);
      case 'welcome':
        return this.onWelcome(msg, from);
      case 'punch':
        return this.onPunch(from, src);
      case 'punch-ack':
        return this.onPunchAck(from, src);
      default:
        this.counters.unknown++;
    }
  }

  /** Gateway: remember the peer and where its hello came from; tell it about the others. */
  private onHello(msg: Message, from: string, src: string): void {
    if (!this.opts.isGateway) {
      this.counters.unknown++; // only gateways answer hellos
      return;
    }
    const now = Date.now();
    let reg = this.registrations.get(from);
    if (!reg) {
      reg = { key: from, role: String(msg.role ?? 'peer'), observed: src, firstSeen: now, lastSeen: now, hellos: 0 };
      this.registrations.set(from, reg);
      log(`registered ${reg.role} ${from}, observed as ${src}`);
    } else if (reg.observed !== src) {
      log(`${reg.role} ${from} now observed as ${src} (was ${reg.observed})`);
      reg.observed = src;
    }
    reg.lastSeen = now;
    reg.hellos++;
    this.sendTo(src, from, { t: 'welcome', from: this.identity.publicHex, observed: src, peers: this.peerListFor(from, now) });
  }

  /** Recently seen peers other than `key`, most recent first, capped to fit a datagram. */
  private peerListFor(key: string, now: number): { key: string; addr: string }[] {
    return [...this.registrations.values()]
      .filter((r) => r.key !== key && now - r.lastSeen < STALE_PEER_MS)
      .sort((a, b) => b.lastSeen - a.lastSeen)
      .slice(0, MAX_WELCOME_PEERS)
      .map((r) => ({ key: r.key, addr: r.observed }));
  }

  /** Peer: a gateway answered; note how it sees us and learn the peers it lists. */
  private onWelcome(msg: Message, from: string): void {
    const gateways = this.gateways.filter((g) => g.publicKey === from && !g.self);
    if (gateways.length === 0) {
      this.counters.unknown++; // welcomes only count from gateways we registered with
      return;
    }
    const now = Date.now();
    const observed = typeof msg.observed === 'string' ? msg.observed : null;
    for (const g of gateways) {
      if (!g.registered || g.observedAs !== observed) log(`registered with gateway ${g.address} as observed ${observed}`);
      g.registered = true;
      g.observedAs = observed;
      g.registeredAt = g.registeredAt ?? now;
      g.lastWelcomeAt = now;
    }
    const peers = Array.isArray(msg.peers) ? (msg.peers as unknown[]) : [];
    for (const entry of peers) {
      const { key, addr } = (entry ?? {}) as { key?: unknown; addr?: unknown };
      if (typeof key !== 'string' || !KEY_HEX.test(key) || typeof addr !== 'string' || !splitHostPort(addr)) continue;
      this.learnPeer(key.toLowerCase(), addr, gateways[0].address, now);
    }
  }

  /** Records a peer from a gateway's list, and starts punching it if it is new or has moved. */
  private learnPeer(key: string, addr: string, via: string, now: number): void {
    if (key === this.identity.publicHex) return;
    const known = this.learned.get(key);
    if (known && known.addr === addr) return;
    log(known ? `peer ${key} moved to ${addr} (was ${known.addr})` : `learned peer ${key} at ${addr} via gateway ${via}`);
    const peer: LearnedPeer = { key, addr, via, learnedAt: now, punch: this.env.punch ? 'punching' : 'disabled', punchesSent: 0 };
    this.learned.set(key, peer);
    if (peer.punch === 'punching') this.punch(peer); // don't wait for the next tick
  }

  /** Someone punched us: answer at the address it came from, which is now open both ways. */
  private onPunch(from: string, src: string): void {
    this.sendTo(src, from, { t: 'punch-ack', from: this.identity.publicHex });
    this.recordDirect(from, src, 'inbound');
  }

  private onPunchAck(from: string, src: string): void {
    const peer = this.learned.get(from);
    if (peer && peer.punch === 'punching') peer.punch = 'acked';
    this.recordDirect(from, src, 'outbound');
  }

  private recordDirect(key: string, addr: string, direction: 'inbound' | 'outbound'): void {
    const now = Date.now();
    let conn = this.direct.get(key);
    if (!conn) {
      conn = { key, addr, inbound: false, outbound: false, firstAt: now, lastAt: now };
      this.direct.set(key, conn);
      log(`direct connection with ${key} from ${addr} (${direction})`);
    } else if (conn.addr !== addr) {
      log(`direct connection with ${key} now from ${addr} (was ${conn.addr})`);
      conn.addr = addr;
    }
    conn[direction] = true;
    conn.lastAt = now;
  }

  // --- status API ------------------------------------------------------------------------------

  private onHttp(req: http.IncomingMessage, res: http.ServerResponse): void {
    const pathname = (req.url ?? '/').split('?')[0];
    const readable = req.method === 'GET' || req.method === 'HEAD';
    if (readable && pathname === '/status') {
      reply(res, 200, 'application/json', `${JSON.stringify(this.status(), null, 2)}\n`);
    } else if (readable && pathname === '/v1/contract/command') {
      // Stands in for Freenet's WebSocket endpoint: readiness probes only need an answer.
      reply(res, 200, 'text/plain', PROGRAM);
    } else {
      reply(res, 404, 'text/plain', 'not found\n');
    }
  }

  status(): Record<string, unknown> {
    const ws = this.server.address() as { port: number } | null;
    return {
      role: this.opts.isGateway ? 'gateway' : 'peer',
      publicKey: this.identity.publicHex,
      networkPort: this.socket.address().port,
      wsPort: ws ? ws.port : this.opts.wsApiPort,
      isGateway: this.opts.isGateway,
      publicNetworkAddress: this.opts.publicNetworkAddress,
      publicNetworkPort: this.opts.publicNetworkPort,
      punching: this.env.punch,
      gateways: this.gateways.map((g) => ({
        address: g.address,
        publicKey: g.publicKey,
        location: g.location,
        self: g.self,
        registered: g.registered,
        observedAs: g.observedAs,
        registeredAt: g.registeredAt,
        lastWelcomeAt: g.lastWelcomeAt,
      })),
      peers: [...this.registrations.values()],
      learned: [...this.learned.values()],
      direct: [...this.direct.values()],
      counters: { ...this.counters },
      uptimeMs: Date.now() - this.startedAt,
    };
  }
}

function reply(res: http.ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'content-type': `${type}; charset=utf-8`, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

// ---------------------------------------------------------------------------------------------
// Start-up

/** Reads the keys and checks public_key.pem, which must belong to the secret key if present. */
function loadIdentity(opts: Options): Identity {
  const identity = new Identity(readKeyFile(opts.transportKeypair, 'transport keypair'));
  const pemFile = path.join(opts.configDir, 'public_key.pem');
  if (fs.existsSync(pemFile)) {
    const stored = readKeyFile(pemFile, 'public key').toString('hex');
    if (stored !== identity.publicHex) {
      throw new ConfigError(`${pemFile} holds public key ${stored}, but the transport keypair ${opts.transportKeypair} belongs to ${identity.publicHex}`);
    }
  }
  return identity;
}

function main(argv: string[]): void {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  let peer: TestPeer;
  try {
    const opts = parseArgs(argv);
    const env = parseEnv(process.env);
    const identity = loadIdentity(opts);
    const gateways = loadGateways(opts.configDir);
    if (!opts.isGateway && gateways.filter((g) => g.publicKey !== identity.publicHex).length === 0) {
      throw new ConfigError(`a peer needs at least one gateway in ${path.join(opts.configDir, 'gateways.toml')}`);
    }
    peer = new TestPeer(opts, env, identity, gateways);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${PROGRAM}: error: ${err.message}\n${USAGE}\n`);
    process.exit(2);
  }
  // Explicit handlers matter as PID 1, where the kernel ignores signals nobody handles.
  process.on('SIGTERM', () => peer.stop(0));
  process.on('SIGINT', () => peer.stop(0));
  peer.start().catch((err: unknown) => {
    logError(errorText(err));
    peer.stop(1);
  });
}

main(process.argv.slice(2));
