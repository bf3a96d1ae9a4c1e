/** A fixed, in-memory image resolver for frontend tests (pure data; no registry involved). */
import { NotFoundError } from '../../src/errors.js';
import type { ImageConfig } from '../../src/image/types.js';
import type { FrontendInput } from '../../frontend/index.js';

const BUSYBOX: ImageConfig = {
  architecture: 'amd64',
  os: 'linux',
  created: '2024-01-01T00:00:00Z',
  config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['sh'] },
  rootfs: { type: 'layers', diff_ids: ['sha256:' + '1'.repeat(64)] },
  history: [
    { created: '2024-01-01T00:00:00Z', created_by: '/bin/sh -c #(nop) ADD file:abc in / ' },
    { created: '2024-01-01T00:00:00Z', created_by: '/bin/sh -c #(nop)  CMD ["sh"]', empty_layer: true },
  ],
};

const ONBUILD_BASE: ImageConfig = {
  architecture: 'amd64',
  os: 'linux',
  config: { Env: ['PATH=/usr/bin:/bin', 'LANG=C'], WorkingDir: '/src', OnBuild: ['COPY . /src/', 'RUN make'] },
  rootfs: { type: 'layers', diff_ids: ['sha256:' + '2'.repeat(64)] },
  history: [{ created_by: 'base layer' }],
};

const IMAGES: Record<string, { ref: string; digest: string; config: ImageConfig }> = {
  'docker.io/library/busybox:latest': { ref: 'docker.io/library/busybox:latest', digest: 'sha256:' + 'b'.repeat(64), config: BUSYBOX },
  'docker.io/example/onbuild:latest': { ref: 'docker.io/example/onbuild:latest', digest: 'sha256:' + 'o'.replace('o', 'c').repeat(64), config: ONBUILD_BASE },
};

function normalize(ref: string): string {
  let r = ref;
  if (!r.includes(':') && !r.includes('@')) r += ':latest';
  const first = r.split('/')[0]!;
  if (!r.includes('/')) r = 'docker.io/library/' + r;
  else if (!first.includes('.') && !first.includes(':') && first !== 'localhost') r = 'docker.io/' + r;
  return r;
}

export async function fakeResolveImage(ref: string): Promise<{ ref: string; digest: string; config: ImageConfig }> {
  const hit = IMAGES[normalize(ref)];
  if (!hit) throw new NotFoundError('NOT_FOUND', `${ref}: not found in the test image set`);
  return structuredClone(hit);
}

/** A frontend input for a Dockerfile text with the test image set (linux/amd64, no build args, no .dockerignore). */
export function frontendInput(dockerfile: string, extra: Partial<FrontendInput> = {}): FrontendInput {
  return {
    dockerfile,
    dockerfilePath: 'Dockerfile',
    excludePatterns: [],
    buildArgs: {},
    platform: { os: 'linux', architecture: 'amd64' },
    resolveImage: fakeResolveImage,
    ...extra,
  };
}
