/**
 * Where the Docker client config lives and how it names a registry: apart from ./credentials.ts so that the
 * replay (src/cli/travel-replay.ts) can ask whether a registry has credentials without loading the helpers' code.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';

export const DOCKER_HUB_KEY = 'https://index.docker.io/v1/';

export function dockerConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  const dir = env.DOCKER_CONFIG || join(env.HOME || homedir(), '.docker');
  return join(dir, 'config.json');
}

/** The config.json key of a registry domain (`docker.io` → Docker Hub's legacy URL). */
export function configKey(domain: string): string {
  return domain === 'docker.io' ? DOCKER_HUB_KEY : domain;
}
