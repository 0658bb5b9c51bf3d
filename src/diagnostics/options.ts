/**
 * The diagnostics inputs (`upload`, `artifact-name`, `artifact-retention-days`) and
 * the default artifact name. Pure: main validates with these before anything exists,
 * post reads them again (the runner re-evaluates inputs for every stage).
 */
import { createHash } from 'node:crypto';
import { InputError } from '../spec/errors.js';
import { parseInteger, type RawInputs } from '../spec/parse.js';

export const UPLOAD_MODES = ['on-failure', 'always', 'never'] as const;
export type UploadMode = (typeof UPLOAD_MODES)[number];

export interface DiagnosticsOptions {
  upload: UploadMode;
  /** The user's `artifact-name`; undefined means the default name. */
  artifactName?: string;
  /** Undefined keeps the repository's retention setting. */
  retentionDays?: number;
}

/** The characters @actions/artifact refuses in a name (NTFS limits), checked here so main fails early. */
const INVALID_NAME_CHARACTERS: [string, string][] = [
  ['"', 'double quote "'],
  [':', 'colon :'],
  ['<', 'less than <'],
  ['>', 'greater than >'],
  ['|', 'vertical bar |'],
  ['*', 'asterisk *'],
  ['?', 'question mark ?'],
  ['\r', 'carriage return'],
  ['\n', 'line feed'],
  ['\\', 'backslash \\'],
  ['/', 'forward slash /'],
];

/** GitHub keeps artifacts at most 90 days on public repositories; private ones can allow up to 400. */
export const MAX_RETENTION_DAYS = 400;

function text(raw: RawInputs, name: string): string | undefined {
  const v = raw[name];
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

export function validateArtifactName(name: string, input = 'artifact-name'): void {
  for (const [ch, what] of INVALID_NAME_CHARACTERS) {
    if (name.includes(ch)) {
      throw new InputError(
        input,
        `'${name}' contains a ${what}, which artifact names may not hold; not allowed: " : < > | * ? \\ / and line breaks`,
      );
    }
  }
}

export function parseDiagnosticsOptions(raw: RawInputs): DiagnosticsOptions {
  const upload = text(raw, 'upload') ?? 'on-failure';
  if (!(UPLOAD_MODES as readonly string[]).includes(upload)) {
    throw new InputError('upload', `'${upload}' is not allowed; allowed: ${UPLOAD_MODES.join(', ')}`);
  }
  const artifactName = text(raw, 'artifact-name');
  if (artifactName !== undefined) validateArtifactName(artifactName);
  const retention = text(raw, 'artifact-retention-days');
  return {
    upload: upload as UploadMode,
    artifactName,
    retentionDays: retention === undefined ? undefined : parseInteger(raw, 'artifact-retention-days', 0, 1, MAX_RETENTION_DAYS),
  };
}

/** `job.status` as the runner gives it to the post step; anything else is "unknown". */
export type JobStatus = 'success' | 'failure' | 'cancelled' | 'unknown';

export function parseJobStatus(value: string | undefined): JobStatus {
  const v = (value ?? '').trim().toLowerCase();
  return v === 'success' || v === 'failure' || v === 'cancelled' ? v : 'unknown';
}

/** A failed or cancelled job, or a main stage that failed itself, counts as failed. */
export function jobFailed(status: JobStatus, mainFailed: boolean): boolean {
  return mainFailed || status === 'failure' || status === 'cancelled';
}

export function shouldUpload(mode: UploadMode, failed: boolean): boolean {
  return mode === 'always' || (mode === 'on-failure' && failed);
}

/** Keys sorted at every level, so the same matrix always hashes the same. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

function slug(value: string, max: number): string {
  return value
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .replace(/-{2,}/g, '-')
    .replace(/^[-.]+|[-.]+$/g, '')
    .slice(0, max)
    .replace(/[-.]+$/, '');
}

/**
 * The matrix leg as a short, readable part of a name: its scalar values (in key order)
 * and a hash of the whole matrix, so two legs never share a name even when their
 * values read alike. Undefined when the job has no matrix.
 */
export function matrixPart(matrix: string | undefined): string | undefined {
  const raw = matrix?.trim();
  // Empty, or an expression nobody evaluated (a run outside GitHub's runner).
  if (!raw || raw.includes('${{')) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    parsed = raw;
  }
  if (parsed === null || (typeof parsed === 'object' && !Array.isArray(parsed) && Object.keys(parsed).length === 0)) return undefined;
  const canonical = canonicalJson(parsed);
  const hash = createHash('sha256').update(canonical).digest('hex').slice(0, 8);
  const scalars =
    parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)
      ? Object.entries(parsed as Record<string, unknown>)
          .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
          .map(([, v]) => v)
          .filter((v) => ['string', 'number', 'boolean'].includes(typeof v))
          .map(String)
      : [];
  const readable = slug(scalars.join('-'), 40);
  return readable ? `${readable}-${hash}` : hash;
}

export interface NamingContext {
  /** GITHUB_JOB: the job's id in the workflow. */
  job?: string;
  /** The topology's `name` input: several uses of the action in one job. */
  name: string;
  /** The `matrix` input (toJSON(matrix)); 'null' outside a matrix. */
  matrix?: string;
  /** GITHUB_RUN_ATTEMPT: a re-run is a new attempt of the same run. */
  runAttempt?: string;
}

/** nat-net-<job>-<name>[-<matrix values>-<matrix hash>]-attempt<n>: unique per job, use, matrix leg and attempt. */
export function defaultArtifactName(ctx: NamingContext): string {
  const parts = ['nat-net', slug(ctx.job ?? '', 40) || 'job', slug(ctx.name, 40) || 'default'];
  const leg = matrixPart(ctx.matrix);
  if (leg) parts.push(leg);
  parts.push(`attempt${/^\d+$/.test(ctx.runAttempt ?? '') ? ctx.runAttempt : '1'}`);
  return parts.join('-');
}

/** The name the upload uses: the user's when given, else the default. */
export function artifactNameFor(options: DiagnosticsOptions, ctx: NamingContext): string {
  return options.artifactName ?? defaultArtifactName(ctx);
}
