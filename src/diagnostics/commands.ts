/**
 * What is read from each container's network namespace, and into which file. Every
 * tool comes from the router image (nothing is installed at dump time): routers run
 * these with `docker exec` (they hold NET_ADMIN and NET_RAW); gateways and peers hold
 * no capability and their image may lack the tools, so a short-lived helper from the
 * router image runs them in the node's namespace. Pure.
 */

export interface StateCommand {
  /** File name inside the container's folder. */
  file: string;
  argv: string[];
}

/** Read from every running container's namespace. */
export const NAMESPACE_COMMANDS: StateCommand[] = [
  { file: 'ip-addr.txt', argv: ['ip', 'addr', 'show'] },
  { file: 'ip-route.txt', argv: ['ip', 'route', 'show'] },
  { file: 'ip-link.txt', argv: ['ip', '-s', 'link', 'show'] },
  { file: 'tc-qdisc.txt', argv: ['tc', '-s', 'qdisc', 'show'] },
  {
    // `tc class show` needs a device: one block per interface that has classes (htb shaping).
    file: 'tc-class.txt',
    argv: ['sh', '-c', 'for d in $(ls /sys/class/net); do out=$(tc -s class show dev "$d" 2>&1); [ -z "$out" ] || printf "dev %s\n%s\n" "$d" "$out"; done'],
  },
  { file: 'sockets.txt', argv: ['ss', '-tuan'] },
  { file: 'iptables-filter.txt', argv: ['iptables', '-t', 'filter', '-nvxL'] },
  { file: 'iptables-mangle.txt', argv: ['iptables', '-t', 'mangle', '-nvxL'] },
];

/** Only routers NAT: their translation rules, sets and the UDP connection-tracking table. */
export const ROUTER_COMMANDS: StateCommand[] = [
  { file: 'iptables-nat.txt', argv: ['iptables', '-t', 'nat', '-nvxL'] },
  { file: 'ipset.txt', argv: ['ipset', 'list'] },
  { file: 'conntrack-udp.txt', argv: ['conntrack', '-L', '-p', 'udp'] },
  {
    file: 'conntrack-timeouts.txt',
    argv: [
      'sh',
      '-c',
      'for f in nf_conntrack_udp_timeout nf_conntrack_udp_timeout_stream nf_conntrack_count nf_conntrack_max; do ' +
        'printf "%s = %s\\n" "$f" "$(cat /proc/sys/net/netfilter/$f 2>&1)"; done',
    ],
  },
];

export function commandsFor(role: string): StateCommand[] {
  return role === 'router' ? [...ROUTER_COMMANDS, ...NAMESPACE_COMMANDS] : NAMESPACE_COMMANDS;
}

const SECTION = '@@nat-net-section';
const EXIT = '@@nat-net-exit';

/** Single-quotes a word for sh (the argv here are fixed, but quoting keeps the script honest). */
function quote(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** One helper script that runs every command and marks where each one's output starts and ends. */
export function helperScript(commands: StateCommand[]): string {
  return commands
    .map((c) => `echo '${SECTION} ${c.file}'; ${c.argv.map(quote).join(' ')} 2>&1; echo "${EXIT} $?"`)
    .join('\n');
}

export interface SectionOutput {
  output: string;
  /** Null when the section never finished (the helper was cut off). */
  exitCode: number | null;
}

/** Splits a helper's output back into one text per file. */
export function splitSections(output: string): Map<string, SectionOutput> {
  const sections = new Map<string, SectionOutput>();
  let current: { file: string; lines: string[] } | undefined;
  const close = (exitCode: number | null) => {
    if (current) sections.set(current.file, { output: current.lines.join('\n') + (current.lines.length ? '\n' : ''), exitCode });
    current = undefined;
  };
  for (const line of output.split('\n')) {
    if (line.startsWith(`${SECTION} `)) {
      close(null);
      current = { file: line.slice(SECTION.length + 1).trim(), lines: [] };
    } else if (line.startsWith(`${EXIT} `) && current) {
      const code = Number(line.slice(EXIT.length + 1).trim());
      close(Number.isInteger(code) ? code : null);
    } else if (current) {
      current.lines.push(line);
    }
  }
  close(null);
  return sections;
}
