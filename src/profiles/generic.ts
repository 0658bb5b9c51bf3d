/**
 * Any peer program, started from the user's command template. The template is split
 * into argv here and never handed to a shell, so node values can't inject commands.
 */
import { InputError } from '../spec/errors.js';
import type { NodeLaunch, Profile, ProfileInput, ProfileNode } from './types.js';

const PLACEHOLDERS = [
  'binary',
  'role',
  'index',
  'name',
  'address',
  'public_address',
  'ws_port',
  'network_port',
  'config_dir',
  'data_dir',
  'gateways',
  'gateway_addresses',
  'gateway_count',
  'peer_count',
  'is_gateway',
] as const;
type Placeholder = (typeof PLACEHOLDERS)[number];

const ALLOWED = PLACEHOLDERS.map((p) => `{${p}}`).join(', ');
const isPlaceholder = (name: string): name is Placeholder => (PLACEHOLDERS as readonly string[]).includes(name);

/** Whitespace separates words; quotes only group, as in sh, but with no escapes or expansions. */
function splitWords(template: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false; // '' from "" is still a word
  let quote: string | undefined;
  for (const ch of template) {
    if (quote !== undefined) {
      if (ch === quote) quote = undefined;
      else word += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      inWord = true;
    } else if (/\s/.test(ch)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += ch;
      inWord = true;
    }
  }
  if (quote !== undefined) throw new InputError('command', `unclosed ${quote} quote in the template`);
  if (inWord) words.push(word);
  return words;
}

const TOKEN = /\{\{|\}\}|\{([^{}]*)\}|[{}]/g;

/** With no values it only checks the word, so a template is rejected even when no node uses it. */
function substitute(word: string, values?: Record<Placeholder, string>): string {
  return word.replace(TOKEN, (match: string, name: string | undefined) => {
    if (match === '{{') return '{';
    if (match === '}}') return '}';
    if (name === undefined) {
      throw new InputError('command', `unmatched '${match}' in ${JSON.stringify(word)}; write {{ or }} for a literal brace`);
    }
    if (!isPlaceholder(name)) throw new InputError('command', `unknown placeholder {${name}}; allowed: ${ALLOWED}`);
    return values ? values[name] : '';
  });
}

function parseTemplate(template: string | undefined): string[] {
  if (template === undefined || template.trim() === '') {
    throw new InputError('command', `the generic profile needs a command template, e.g. '{binary} --port {network_port}'`);
  }
  const words = splitWords(template);
  if (words[0] === '') throw new InputError('command', 'the first word (the program) is empty');
  for (const word of words) substitute(word);
  return words;
}

export function validateCommandTemplate(template: string): void {
  parseTemplate(template);
}

function placeholderValues(input: ProfileInput, node: ProfileNode): Record<Placeholder, string> {
  const gateways = input.nodes.filter((n) => n.role === 'gateway');
  return {
    binary: input.binaryPath,
    role: node.role,
    index: String(node.index),
    name: `${node.role}-${node.index}`,
    address: node.address,
    public_address: node.publicAddress,
    ws_port: String(input.wsPort),
    network_port: String(input.networkPort),
    config_dir: '/config',
    data_dir: '/data',
    gateways: gateways.map((g) => `${g.publicAddress}:${input.networkPort}`).join(','),
    gateway_addresses: gateways.map((g) => g.publicAddress).join(','),
    gateway_count: String(gateways.length),
    peer_count: String(input.nodes.length - gateways.length),
    is_gateway: String(node.role === 'gateway'),
  };
}

export function genericProfile(): Profile {
  return {
    launches(input: ProfileInput): NodeLaunch[] {
      const words = parseTemplate(input.command);
      return input.nodes.map((node) => {
        const values = placeholderValues(input, node);
        return {
          command: words.map((word) => substitute(word, values)),
          // Ours come last: they describe this node, a user value could only be wrong.
          env: {
            ...input.env,
            NAT_NET_ROLE: values.role,
            NAT_NET_INDEX: values.index,
            NAT_NET_NAME: values.name,
            NAT_NET_GATEWAYS: values.gateways,
          },
          files: [{ path: '/data/.keep', content: '', mode: 0o644 }],
          wsPath: '/',
        };
      });
    },
  };
}
