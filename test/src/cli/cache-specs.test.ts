/** buildx's --cache-to / --cache-from syntax (src/cli/cache-specs.ts). */
import { describe, expect, it } from 'vitest';
import { parseCacheSpec } from '../../../src/cli/cache-specs.js';
import { parseBuildArgs } from '../../../src/cli/args.js';

describe('cache specs', () => {
  it('reads buildx syntax: registry and local, mode, ignore-error, bare refs, repeatable --cache-from', () => {
    expect(parseCacheSpec('--cache-to', 'type=registry,ref=reg:5000/a/b:cache,mode=max')).toMatchObject({ type: 'registry', target: 'reg:5000/a/b:cache', mode: 'max', ignoreError: false });
    expect(parseCacheSpec('--cache-to', 'type=local,dest=/tmp/c,ignore-error=true')).toMatchObject({ type: 'local', target: '/tmp/c', mode: 'min', ignoreError: true });
    expect(parseCacheSpec('--cache-to', 'type=inline')).toMatchObject({ type: 'inline', mode: 'min' });
    expect(parseCacheSpec('--cache-to', 'type=local,dest=d,compression=zstd,compression-level=19,force-compression=true,oci-mediatypes=true,image-manifest=true').layers).toEqual({ compression: 'zstd', level: 19, force: true });
    expect(parseCacheSpec('--cache-to', 'type=local,dest=d').layers).toEqual({});
    expect(parseCacheSpec('--cache-to', 'type=inline,mode=min')).toMatchObject({ type: 'inline' });
    expect(parseCacheSpec('--cache-from', 'type=local,src=dir')).toMatchObject({ type: 'local', target: 'dir' });
    expect(parseCacheSpec('--cache-from', 'reg:5000/a/b:cache')).toMatchObject({ type: 'registry', target: 'reg:5000/a/b:cache' });
    expect(parseCacheSpec('--cache-from', 'ref=reg/a:c')).toMatchObject({ type: 'registry', target: 'reg/a:c' });
    const args = parseBuildArgs(['--cache-from', 'a/b:1', '--cache-from', 'type=local,src=d', '--cache-to', 'type=local,dest=e,mode=max', '.']);
    expect(args.cacheFrom.map((s) => s.target)).toEqual(['a/b:1', 'd']);
    expect(args.cacheTo[0]).toMatchObject({ type: 'local', target: 'e', mode: 'max' });
  });

  it('refuses what it cannot do with a usage error naming the flag', () => {
    for (const [flag, spec, msg] of [
      ['--cache-to', 'type=gha', /unsupported type "gha"/],
      ['--cache-from', 'type=inline', /unsupported type "inline"/],
      ['--cache-to', 'type=inline,mode=max', /type=inline carries mode=min only/],
      ['--cache-to', 'type=inline,ref=x', /type=inline takes no field "ref"/],
      ['--cache-to', 'type=local', /needs dest=DIR/],
      ['--cache-from', 'type=local,dest=x', /needs src=DIR/],
      ['--cache-to', 'type=registry', /needs ref=REF/],
      ['--cache-to', 'type=local,dest=x,mode=all', /mode must be min or max/],
      ['--cache-to', 'type=local,dest=x,ignore-error=yes', /ignore-error must be true or false/],
      ['--cache-to', 'type=local,dest=x,colour=red', /unknown field "colour"/],
      ['--cache-to', 'type=local,dest=x,junk', /is not key=value/],
      ['--cache-to', 'type=local,dest=x,compression=lz4', /compression must be gzip, zstd or uncompressed/],
      ['--cache-to', 'type=local,dest=x,compression=zstd,compression-level=23', /from 1 to 22 for zstd/],
      ['--cache-to', 'type=local,dest=x,compression-level=10', /from 0 to 9 for gzip/],
      ['--cache-to', 'type=local,dest=x,compression=uncompressed,compression-level=1', /does not apply/],
      ['--cache-to', 'type=local,dest=x,force-compression=1', /force-compression must be true or false/],
      ['--cache-to', 'type=registry,ref=r,oci-mediatypes=false', /oci-mediatypes=false is not supported/],
      ['--cache-to', 'type=registry,ref=r,image-manifest=false', /image-manifest=false is not supported/],
    ] as const) {
      expect(() => parseCacheSpec(flag, spec), spec).toThrow(msg);
      expect(() => parseCacheSpec(flag, spec), spec).toThrow(new RegExp(`invalid ${flag}`));
    }
  });
});
