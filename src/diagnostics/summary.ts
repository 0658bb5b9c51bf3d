/** summary.md of the diagnostics folder and the rows of the post step's job summary. Pure. */
import { NAMESPACE_COMMANDS, ROUTER_COMMANDS } from './commands.js';
import type { DiagnosticsResult, EndState, NodeReport } from './views.js';

export function endStateText(end: EndState): string {
  if (end.status === 'running') return 'running';
  if (end.status === 'exited' || end.status === 'dead') {
    const code = end.exitCode === undefined ? '' : ` with code ${end.exitCode}`;
    return `${end.status === 'dead' ? 'dead' : 'exited'}${code}${end.oomKilled ? ' (out of memory)' : ''}`;
  }
  if (end.status === 'created') return 'created, never started';
  return end.status;
}

function readyText(readyMs: number | undefined): string {
  return readyMs === undefined || !Number.isFinite(readyMs) ? '-' : `${(readyMs / 1000).toFixed(1)} s`;
}

/** Node, role, NAT, address, public address, WebSocket port, ready time, state at the end. */
export function nodeRows(nodes: NodeReport[]): string[][] {
  return [
    ['node', 'role', 'nat', 'address', 'public address', 'ws port', 'ready', 'state at the end'],
    ...nodes.map((n) => [
      n.key,
      n.role,
      n.nat ?? '-',
      n.address ?? '-',
      n.publicAddress ?? '-',
      n.wsHostPort === undefined ? '-' : String(n.wsHostPort),
      readyText(n.readyMs),
      endStateText(n.end),
    ]),
  ];
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

export function markdownTable(rows: string[][]): string {
  const [header, ...body] = rows;
  return [`| ${header.map(cell).join(' | ')} |`, `| ${header.map(() => '---').join(' | ')} |`, ...body.map((r) => `| ${r.map(cell).join(' | ')} |`)].join('\n');
}

/** Nodes (not routers' helpers) whose program stopped: the ones a reader looks at first. */
export function stoppedNodes(nodes: NodeReport[]): NodeReport[] {
  return nodes.filter((n) => n.end.status !== 'running' && n.end.status !== 'not created');
}

function fence(lines: string[]): string {
  const body = lines.join('\n');
  const ticks = body.includes('```') ? '````' : '```';
  return `${ticks}\n${body}\n${ticks}`;
}

export function summaryMarkdown(result: DiagnosticsResult): string {
  const out: string[] = [];
  out.push(`# nat-net diagnostics: ${result.topologyId}`, '');
  out.push(`Collected ${result.collectedAt}${result.fromRecord ? '' : ' (main did not finish: nodes come from the plan and the engine\'s labels; topology.json says what is known)'}.`, '');
  out.push(markdownTable(nodeRows(result.nodes)), '');

  const stopped = stoppedNodes(result.nodes);
  if (stopped.length > 0) {
    out.push('## Not running at the end', '');
    for (const n of stopped) {
      const details = [n.end.error ? `error: ${n.end.error}` : '', n.end.finishedAt ? `finished ${n.end.finishedAt}` : ''].filter(Boolean).join('; ');
      out.push(`### ${n.key}: ${endStateText(n.end)}${details ? ` (${details})` : ''}`, '');
      if (n.logTail && n.logTail.length > 0) {
        out.push(`Last ${n.logTail.length} lines of its log (all of it in ${n.key}/log.txt):`, '', fence(n.logTail), '');
      } else {
        out.push('Its log is empty or could not be read.', '');
      }
    }
  }

  out.push('## Could not be collected', '');
  out.push(result.errors.length === 0 ? 'Nothing: every file was collected.' : result.errors.map((e) => `- ${e}`).join('\n'), '');

  out.push('## Files', '');
  out.push('- `topology.json`: the topology record (ids, addresses, ports, NAT behaviours, timings)');
  out.push('- `inputs.json`: the inputs as resolved for the step, `env` values masked (action only)');
  out.push('- `errors.txt`: what could not be collected');
  out.push('- `<node>/state.json`: container state, exit code, networks, ports, labels');
  out.push('- `<node>/log.txt`: its log, stdout and stderr, with timestamps');
  out.push(`- \`<node>/\`: ${NAMESPACE_COMMANDS.map((c) => `\`${c.file}\` (${c.argv[0] === 'sh' ? 'script' : c.argv.join(' ')})`).join(', ')}`);
  out.push(`- \`router-N/\` also: ${ROUTER_COMMANDS.map((c) => `\`${c.file}\` (${c.argv[0] === 'sh' ? '/proc/sys/net/netfilter' : c.argv.join(' ')})`).join(', ')}`);
  out.push('');
  return out.join('\n');
}
