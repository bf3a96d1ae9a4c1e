/**
 * NODE_EXTRA_CA_CERTS, loaded when TLS is first used instead of at every start.
 *
 * Node reads NODE_EXTRA_CA_CERTS when the process starts, and with it builds its whole root store: ~40 ms of a
 * ~90 ms `node -e 0` on a machine that sets it to the system bundle (as CI images and corporate machines
 * with a TLS-intercepting proxy do), paid by every tsbuild command, including an unchanged rebuild that
 * talks plain HTTP to a local registry or no registry at all. bin/tsbuild's first line (a shell line) moves
 * the variable to TSBUILD_CA_DEFERRED before it starts Node, and the shim puts NODE_EXTRA_CA_CERTS back into
 * the environment at once, so that child processes see it as set. The file is then trusted here, by every
 * TLS client of this process (undici's registry connections, Node's `fetch` and `https`), the way Node would
 * have trusted it: added to the default root store of every TLS context made without an explicit `ca`.
 *
 * `await trustDeferredCAs()` is called before a TLS connection can be made (the registry endpoint, the replay's
 * HTTPS HEAD, ADD and context downloads). Without TSBUILD_CA_DEFERRED (Node loaded the variable itself, or
 * it is not set) it does nothing and loads nothing. An unreadable file is what Node does with one: a
 * warning, and the default roots alone.
 */
import { readFileSync } from 'node:fs';
import type * as Tls from 'node:tls';

/** The variable bin/tsbuild moves NODE_EXTRA_CA_CERTS to before it starts Node. */
export const DEFERRED_ENV = 'TSBUILD_CA_DEFERRED';

/**
 * Options that shape a TLS context: a context made with any of them is the caller's own; one made without
 * them (only connection options: host, servername, rejectUnauthorized, ...) is the same for every connection
 * and is shared, so that the bundle is parsed once per process, not once per connection.
 */
const CONTEXT_OPTIONS = [
  'ca', 'cert', 'key', 'pfx', 'passphrase', 'crl', 'ciphers', 'sigalgs', 'ecdhCurve', 'dhparam', 'honorCipherOrder',
  'minVersion', 'maxVersion', 'secureProtocol', 'secureOptions', 'sessionIdContext', 'ticketKeys', 'sessionTimeout',
  'clientCertEngine', 'privateKeyEngine', 'privateKeyIdentifier', 'allowPartialTrustChain',
];

let installing: Promise<void> | undefined;

/** Resolves when this process's TLS clients trust the deferred bundle (at once when there is none). */
export function trustDeferredCAs(): Promise<void> {
  const file = process.env[DEFERRED_ENV];
  if (!file) return Promise.resolve();
  return (installing ??= install(file));
}

async function install(file: string): Promise<void> {
  let pem: string;
  try {
    pem = readFileSync(file, 'utf8');
  } catch (err) {
    process.emitWarning(`Ignoring extra certs from \`${file}\`, load failed: ${(err as Error).message}`);
    return;
  }
  // The default export is the module object itself (the namespace cannot be patched); node:tls's own
  // tls.connect() calls createSecureContext through it, so Node's fetch and https see the patch too.
  const tls = (await import('node:tls')).default as typeof Tls & { __tsbuildDeferred?: boolean };
  if (tls.__tsbuildDeferred) return; // a second copy of this module (the replay's bundle and the CLI's)
  tls.__tsbuildDeferred = true;
  const original = tls.createSecureContext;
  let shared: Tls.SecureContext | undefined;
  let failed = false;
  const withBundle = (options?: Tls.SecureContextOptions): Tls.SecureContext => {
    const ctx = original(options);
    if (failed) return ctx;
    try {
      (ctx as unknown as { context: { addCACert(pem: string): void } }).context.addCACert(pem);
    } catch (err) {
      failed = true; // as Node does with a file it cannot use: the default roots alone, and a warning
      process.emitWarning(`Ignoring extra certs from \`${file}\`, load failed: ${(err as Error).message}`);
    }
    return ctx;
  };
  tls.createSecureContext = (options?: Tls.SecureContextOptions): Tls.SecureContext => {
    const o = options as Record<string, unknown> | undefined;
    if (o && o.ca !== undefined) return original(options); // an explicit list replaces the roots, extra ones included (as in Node)
    if (o && CONTEXT_OPTIONS.some((k) => o[k] !== undefined)) return withBundle(options);
    return (shared ??= withBundle());
  };
}
