/**
 * `tsbuild login REGISTRY -u USER --password-stdin` and `tsbuild logout REGISTRY`: the credentials live in
 * the Docker config (`$DOCKER_CONFIG/config.json`, default ~/.docker/config.json), in its credential helper
 * when one is configured, exactly where `docker login` puts them. Login checks them against the registry first.
 */
import { parseArgs } from 'node:util';
import { UsageError } from '../errors.js';
import { dockerConfigPath, eraseCredentials, storeCredentials, RegistryClient } from '../registry/index.js';
import { insecureList } from './registry-client.js';

function registryDomain(arg: string | undefined): string {
  if (!arg) return 'docker.io';
  const d = arg.replace(/^https?:\/\//, '').replace(/\/.*$/, '');
  return d === 'index.docker.io' || d === 'registry-1.docker.io' ? 'docker.io' : d;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

export async function loginCommand(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { username: { type: 'string', short: 'u' }, password: { type: 'string', short: 'p' }, 'password-stdin': { type: 'boolean' }, 'insecure-registry': { type: 'string', multiple: true } },
    });
  } catch (err) {
    throw new UsageError((err as Error).message, { hint: 'usage: tsbuild login [REGISTRY] -u USER --password-stdin' });
  }
  const { values, positionals } = parsed;
  if (positionals.length > 1) throw new UsageError('"tsbuild login" takes at most 1 argument: the registry');
  const domain = registryDomain(positionals[0]);
  if (!values.username) throw new UsageError('"tsbuild login" needs -u USER', { hint: 'usage: tsbuild login REGISTRY -u USER --password-stdin' });
  if (values.password !== undefined && values['password-stdin']) throw new UsageError('--password and --password-stdin are mutually exclusive');
  let password = values.password;
  if (values['password-stdin']) password = await readStdin();
  if (!password) throw new UsageError('"tsbuild login" needs a password: --password-stdin (recommended) or -p');
  if (values.password !== undefined) process.stderr.write('WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n');
  const creds = { username: values.username, password };
  const client = new RegistryClient({ insecure: insecureList(values['insecure-registry'] ?? []), credentials: async () => creds });
  await client.checkLogin(domain);
  await storeCredentials(domain, creds);
  process.stdout.write(`Login Succeeded (credentials for ${domain} saved in ${dockerConfigPath()})\n`);
  return 0;
}

export async function logoutCommand(argv: string[]): Promise<number> {
  const { positionals } = parseArgs({ args: argv, allowPositionals: true, options: {} });
  const domain = registryDomain(positionals[0]);
  const found = await eraseCredentials(domain);
  process.stdout.write(found ? `Removing login credentials for ${domain}\n` : `Not logged in to ${domain}\n`);
  return 0;
}
