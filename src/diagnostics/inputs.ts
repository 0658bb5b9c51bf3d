/** The resolved inputs as written to inputs.json: secrets masked. Pure. */

export const MASK = '***';

/** Inputs whose lines are KEY=VALUE with values that may be secrets: keys stay readable, values do not. */
const KEY_VALUE_SECRETS = new Set(['env']);

export function maskKeyValueLines(text: string): string {
  return text
    .split('\n')
    .map((line) => {
      const trimmed = line.trim();
      if (trimmed === '') return line;
      // A commented-out line may still hold a real token.
      if (trimmed.startsWith('#')) return `#${MASK}`;
      const match = /^(\s*[A-Za-z_][A-Za-z0-9_]*)=/.exec(line);
      return match ? `${match[1]}=${MASK}` : MASK;
    })
    .join('\n');
}

export function maskInputs(inputs: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(inputs).map(([name, value]) => [name, KEY_VALUE_SECRETS.has(name) && value.trim() !== '' ? maskKeyValueLines(value) : value]),
  );
}
