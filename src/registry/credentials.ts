/**
 * Credentials from the Docker client config, read and written the way `docker login` does:
 * `$DOCKER_CONFIG/config.json` (default `~/.docker/config.json`) with
 * - `credHelpers`: { "<registry>": "<helper>" } → run `docker-credential-<helper> get|store|erase`;
 * - `credsStore`: "<helper>", the helper for every registry without its own;
 * - `auths`: { "<registry>": { auth: base64("user:password"), identitytoken? } }.
 * Docker Hub's key is `https://index.docker.io/v1/`. A helper returning Username `<token>` gives an
 * identity (OAuth2 refresh) token. Secrets are returned to the caller only, never logged.
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from '../fsutil/atomic.js';
import { RegistryError } from './errors.js';

export interface Credentials {
  username: string;
  /** Password, or empty when only an identity token is known. */
  password: string;
  /** OAuth2 refresh token (Docker's `identitytoken`). */
  identityToken?: string;
}

export interface DockerConfigFile {
  auths?: Record<string, { auth?: string; username?: string; password?: string; identitytoken?: string }>;
  credsStore?: string;
  credHelpers?: Record<string, string>;
  [k: string]: unknown;
}

export { DOCKER_HUB_KEY, configKey, dockerConfigPath } from './docker-config-path.js';
import { configKey, dockerConfigPath } from './docker-config-path.js';

export async function readDockerConfig(path = dockerConfigPath()): Promise<DockerConfigFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new RegistryError('DOCKER_CONFIG_UNREADABLE', `cannot read ${path}: ${(err as Error).message}`);
  }
  try {
    return JSON.parse(text) as DockerConfigFile;
  } catch {
    throw new RegistryError('DOCKER_CONFIG_INVALID', `${path} is not valid JSON`);
  }
}

function helperFor(cfg: DockerConfigFile, domain: string): string | undefined {
  const key = configKey(domain);
  return cfg.credHelpers?.[key] ?? cfg.credHelpers?.[domain] ?? cfg.credsStore ?? undefined;
}

/** Look up credentials for `domain`; undefined when there are none (anonymous access). */
export async function lookupCredentials(domain: string, path = dockerConfigPath()): Promise<Credentials | undefined> {
  const cfg = await readDockerConfig(path);
  const helper = helperFor(cfg, domain);
  if (helper) {
    const got = await runHelper(helper, 'get', configKey(domain));
    if (got.ok) {
      const j = JSON.parse(got.stdout) as { Username?: string; Secret?: string };
      if (j.Username === '<token>') return { username: '', password: '', identityToken: j.Secret ?? '' };
      return { username: j.Username ?? '', password: j.Secret ?? '' };
    }
    if (!/not found/i.test(got.stdout + got.stderr)) {
      throw new RegistryError('CREDENTIAL_HELPER_FAILED', `credential helper docker-credential-${helper} failed for ${domain}: ${firstLine(got.stderr || got.stdout)}`);
    }
  }
  const entry = cfg.auths?.[configKey(domain)] ?? cfg.auths?.[domain] ?? cfg.auths?.[`https://${domain}`];
  if (!entry) return undefined;
  let username = entry.username ?? '';
  let password = entry.password ?? '';
  if (entry.auth) {
    const dec = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = dec.indexOf(':');
    if (colon < 0) throw new RegistryError('DOCKER_CONFIG_INVALID', `${path}: the auth entry of ${domain} is not base64("user:password")`);
    username = dec.slice(0, colon);
    password = dec.slice(colon + 1);
  }
  const out: Credentials = { username, password };
  if (entry.identitytoken) out.identityToken = entry.identitytoken;
  if (!username && !password && !out.identityToken) return undefined;
  return out;
}

/** `tsbuild login`: store through the registry's helper if it has one, else in `auths` (file mode 0600). */
export async function storeCredentials(domain: string, creds: Credentials, path = dockerConfigPath()): Promise<void> {
  const cfg = await readDockerConfig(path);
  const key = configKey(domain);
  const helper = helperFor(cfg, domain);
  if (helper) {
    const r = await runHelper(helper, 'store', JSON.stringify({ ServerURL: key, Username: creds.username, Secret: creds.password }));
    if (!r.ok) throw new RegistryError('CREDENTIAL_HELPER_FAILED', `credential helper docker-credential-${helper} could not store credentials for ${domain}: ${firstLine(r.stderr || r.stdout)}`);
    if (cfg.auths?.[key]) {
      delete cfg.auths[key];
      await writeConfig(path, cfg);
    }
    return;
  }
  cfg.auths ??= {};
  cfg.auths[key] = { auth: Buffer.from(`${creds.username}:${creds.password}`).toString('base64') };
  await writeConfig(path, cfg);
}

/** `tsbuild logout`: erase from the helper and from `auths`; false when nothing was stored. */
export async function eraseCredentials(domain: string, path = dockerConfigPath()): Promise<boolean> {
  const cfg = await readDockerConfig(path);
  const key = configKey(domain);
  let found = false;
  const helper = helperFor(cfg, domain);
  if (helper) found = (await runHelper(helper, 'erase', key)).ok;
  for (const k of [key, domain, `https://${domain}`]) {
    if (cfg.auths?.[k]) {
      delete cfg.auths[k];
      found = true;
    }
  }
  await writeConfig(path, cfg);
  return found;
}

async function writeConfig(path: string, cfg: DockerConfigFile): Promise<void> {
  await writeFileAtomic(path, JSON.stringify(cfg, null, '\t') + '\n', { mode: 0o600, mkdir: true });
}

function firstLine(s: string): string {
  return s.trim().split('\n', 1)[0] ?? '';
}

/** Run `docker-credential-<name> <action>` with `input` on stdin. */
function runHelper(name: string, action: 'get' | 'store' | 'erase', input: string): Promise<{ ok: boolean; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(`docker-credential-${name}`, [action], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', (err) => {
      const e = err as NodeJS.ErrnoException;
      reject(new RegistryError('CREDENTIAL_HELPER_FAILED', e.code === 'ENOENT' ? `credential helper docker-credential-${name} is not on PATH` : `credential helper docker-credential-${name}: ${e.message}`));
    });
    child.on('close', (code) => resolve({ ok: code === 0, stdout, stderr }));
    child.stdin.on('error', () => {});
    child.stdin.end(input);
  });
}
