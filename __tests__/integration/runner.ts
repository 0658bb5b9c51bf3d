/**
 * Runs the bundled action the way the GitHub runner does: a copy of the action with
 * no node_modules, INPUT_* env (with action.yml's defaults filled in), and the
 * GITHUB_OUTPUT / GITHUB_ENV / GITHUB_PATH / GITHUB_STATE / GITHUB_STEP_SUMMARY files;
 * after main, the saved state is handed to post as STATE_* env.
 */
import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { ROOT } from './support.js';

export interface StepResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Reads a runner file command file: `name=value` lines and `name<<DELIM ... DELIM` blocks. */
export function parseFileCommands(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const heredoc = /^([^=<]+)<<(.+)$/.exec(line);
    if (heredoc) {
      const [, name, delimiter] = heredoc;
      const value: string[] = [];
      for (i++; i < lines.length && lines[i] !== delimiter; i++) value.push(lines[i]);
      out[name] = value.join('\n');
    } else if (line.includes('=')) {
      out[line.slice(0, line.indexOf('='))] = line.slice(line.indexOf('=') + 1);
    }
  }
  return out;
}

// Every runner folder goes when the test process ends.
const made: string[] = [];
process.once('exit', () => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

export class FakeRunner {
  readonly actionDir: string;
  readonly workspace: string;
  readonly temp: string;
  readonly files: Record<'output' | 'env' | 'path' | 'state' | 'summary', string>;
  private inputs: Record<string, string>;
  private child: ReturnType<typeof spawn> | undefined;

  constructor(inputs: Record<string, string>, readonly extraEnv: Record<string, string> = {}) {
    const base = mkdtempSync(join(tmpdir(), 'nat-net-runner-'));
    made.push(base);
    this.actionDir = join(base, 'action');
    this.workspace = join(base, 'workspace');
    this.temp = join(base, 'temp');
    for (const part of ['action.yml', 'dist', 'images', 'bin']) cpSync(join(ROOT, part), join(this.actionDir, part), { recursive: true });
    cpSync(join(ROOT, 'dist/test-peer'), join(this.workspace, 'bin'), { recursive: true });
    cpSync(join(ROOT, '__tests__/fixtures'), join(this.workspace, 'fixtures'), { recursive: true });
    this.files = {
      output: join(base, 'output'),
      env: join(base, 'env'),
      path: join(base, 'path'),
      state: join(base, 'state'),
      summary: join(base, 'summary.md'),
    };
    for (const f of Object.values(this.files)) writeFileSync(f, '');
    const manifest = parse(readFileSync(join(this.actionDir, 'action.yml'), 'utf8')) as { inputs: Record<string, { default?: string }> };
    this.inputs = {};
    for (const [name, spec] of Object.entries(manifest.inputs)) this.inputs[name] = spec.default ?? '';
    Object.assign(this.inputs, inputs);
  }

  private env(stage: 'main' | 'post'): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      DOCKER_HOST: process.env.DOCKER_HOST,
      GITHUB_ACTIONS: 'true',
      CI: 'true',
      GITHUB_WORKSPACE: this.workspace,
      RUNNER_TEMP: this.temp,
      GITHUB_OUTPUT: this.files.output,
      GITHUB_ENV: this.files.env,
      GITHUB_PATH: this.files.path,
      GITHUB_STATE: this.files.state,
      GITHUB_STEP_SUMMARY: this.files.summary,
      GITHUB_RUN_ID: '4242',
      GITHUB_RUN_ATTEMPT: '1',
      GITHUB_JOB: 'nat-test',
      GITHUB_REPOSITORY: 'freenet/example',
      ...this.extraEnv,
    };
    for (const [name, value] of Object.entries(this.inputs)) env[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`] = value;
    if (stage === 'post') {
      for (const [name, value] of Object.entries(this.state())) env[`STATE_${name}`] = value;
    }
    return env;
  }

  run(stage: 'main' | 'post', timeoutMs = 180_000, signalAfter?: { ms: number; signal: NodeJS.Signals }): Promise<StepResult> {
    return new Promise((resolve) => {
      const child = spawn(process.execPath, [join(this.actionDir, 'dist/action/index.js')], { cwd: this.workspace, env: this.env(stage) });
      this.child = child;
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      const killer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      const signaller = signalAfter ? setTimeout(() => child.kill(signalAfter.signal), signalAfter.ms) : undefined;
      child.on('close', (code) => {
        clearTimeout(killer);
        clearTimeout(signaller);
        resolve({ code, stdout, stderr });
      });
    });
  }

  /** The pid of the stage running now. */
  mainPid(): number | undefined {
    return this.child?.pid;
  }

  outputs(): Record<string, string> {
    return parseFileCommands(readFileSync(this.files.output, 'utf8'));
  }
  exportedEnv(): Record<string, string> {
    return parseFileCommands(readFileSync(this.files.env, 'utf8'));
  }
  state(): Record<string, string> {
    return parseFileCommands(readFileSync(this.files.state, 'utf8'));
  }
  summary(): string {
    return readFileSync(this.files.summary, 'utf8');
  }
  paths(): string[] {
    return readFileSync(this.files.path, 'utf8').split('\n').filter(Boolean);
  }
}
