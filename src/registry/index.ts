/** The distribution client: see client.ts (RegistryClient) and ARCHITECTURE.md ("Registries"). */
export { RegistryClient, type RegistryClientOptions } from './client.js';
export { RegistryError, RegistryAuthError, RegistryUnreachableError } from './errors.js';
export { BlobSources } from './sources.js';
export { lookupCredentials, storeCredentials, eraseCredentials, dockerConfigPath, type Credentials } from './credentials.js';
export type { PulledImage, PullOptions } from './pull.js';
export type { BlobTee } from './blob-pull.js';
export type { PushStats } from './push.js';
export { PulledRecords } from './pulled.js';
