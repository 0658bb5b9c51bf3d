/** `--flag value` / `--flag=value` parsing; flag names are the action's input names. */
export interface ParsedArgs {
  command: string | undefined;
  positional: string[];
  flags: Record<string, string>;
}

const BOOLEAN_FLAGS = new Set(['json', 'help', 'keep-on-failure', 'hairpin', 'all', 'dry-run', 'yes']);

export function parseArgs(argv: string[]): ParsedArgs {
  const flags: Record<string, string> = {};
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '-h') {
      flags.help = 'true';
    } else if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
      if (eq !== -1) flags[name] = arg.slice(eq + 1);
      else if (BOOLEAN_FLAGS.has(name) && (argv[i + 1] === undefined || argv[i + 1].startsWith('--') || !/^(true|false|on|off|yes|no)$/.test(argv[i + 1]))) flags[name] = 'true';
      else if (i + 1 < argv.length) flags[name] = argv[++i];
      else throw new Error(`option --${name} needs a value`);
    } else {
      positional.push(arg);
    }
  }
  return { command: positional.shift(), positional, flags };
}
