/**
 * `--load` / `type=docker` without dest: send the image to a running Docker daemon (`POST /images/load`
 * with a docker-load archive) at DOCKER_HOST (unix:// or tcp://) or /var/run/docker.sock. When no daemon
 * answers, a clear error says so before anything is sent.
 */
import { request, type RequestOptions } from 'node:http';
import { PassThrough } from 'node:stream';
import { TsbuildError } from '../src/errors.js';
import { dockerArchiveEntries } from '../src/imagestore/layout.js';
import { writeTar } from '../src/imagestore/output-file.js';
import type { BuildResult } from '../src/llb/result.js';
import { imageFor, parseImageOptions, type ImageExportOptions } from './options.js';
import type { Exporter, ExportContext, ExportResponse, ImageBlobs } from './types.js';

export class DockerDaemonExporter implements Exporter {
  readonly type = 'docker';
  private readonly opts: ImageExportOptions;
  constructor(
    private readonly names: string[],
    attrs: Record<string, string> = {},
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {
    this.opts = parseImageOptions(attrs);
  }

  /** Fail early (before the build) when no daemon is reachable. */
  async check(): Promise<void> {
    await ping(daemonAddress(this.env));
  }

  async export(result: BuildResult, base: ImageBlobs, ctx: ExportContext): Promise<ExportResponse> {
    const addr = daemonAddress(this.env);
    await ping(addr);
    const image = await imageFor(result, base, this.opts, false, ctx);
    const entries = await dockerArchiveEntries([{ manifest: image.manifest, names: this.names }], ctx.content);
    const body = new PassThrough();
    const reply = call(addr, { method: 'POST', path: '/images/load?quiet=1', headers: { 'Content-Type': 'application/x-tar' } }, body);
    await writeTar(body, entries, ctx.signal);
    const { status, text } = await reply;
    const err = /"error(?:Detail)?"\s*:\s*(?:\{"message":)?\s*"([^"]*)"/.exec(text)?.[1];
    if (status !== 200 || err) throw new TsbuildError('DOCKER_LOAD_FAILED', `the Docker daemon at ${addr.shown} refused the image: ${err ?? `HTTP ${status} ${text.slice(0, 200)}`}`);
    const variant = image.manifest.digest !== base.manifest.digest ? { manifest: image.manifest, config: image.config } : {};
    return { message: `loaded into the Docker daemon at ${addr.shown}`, ...variant };
  }
}

interface Address {
  shown: string;
  opts: RequestOptions;
}

export function daemonAddress(env: NodeJS.ProcessEnv): Address {
  const host = env.DOCKER_HOST || 'unix:///var/run/docker.sock';
  if (host.startsWith('unix://')) return { shown: host, opts: { socketPath: host.slice('unix://'.length) } };
  const m = /^tcp:\/\/([^:/]+)(?::(\d+))?\/?$/.exec(host);
  if (m) return { shown: host, opts: { host: m[1]!, port: Number(m[2] ?? 2375) } };
  throw new TsbuildError('USAGE', `DOCKER_HOST "${host}" is not supported (use unix:///path or tcp://host:port)`);
}

async function ping(addr: Address): Promise<void> {
  try {
    const { status } = await call(addr, { method: 'GET', path: '/_ping', timeout: 3000 });
    if (status !== 200) throw new Error(`HTTP ${status}`);
  } catch (err) {
    throw new TsbuildError('NO_DOCKER_DAEMON', `--load needs a running Docker daemon, and none is reachable at ${addr.shown}: ${(err as Error).message}`, {
      cause: err,
      hint: 'start Docker or set DOCKER_HOST; or write an archive with `-o type=docker,dest=image.tar` and run `docker load -i image.tar` where Docker runs',
    });
  }
}

function call(addr: Address, opts: RequestOptions, body?: NodeJS.ReadableStream): Promise<{ status: number; text: string }> {
  return new Promise((res, rej) => {
    const req = request({ ...addr.opts, ...opts }, (resp) => {
      let text = '';
      resp.setEncoding('utf8');
      resp.on('data', (d: string) => (text = (text + d).slice(-64_000)));
      resp.on('end', () => res({ status: resp.statusCode ?? 0, text }));
      resp.on('error', rej);
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', rej);
    if (body) body.pipe(req);
    else req.end();
  });
}
