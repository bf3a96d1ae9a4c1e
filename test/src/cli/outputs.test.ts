/** buildx's --output syntax: CSV with quotes, shorthands, every type, option validation. */
import { describe, expect, it } from 'vitest';
import { parseOutput, splitCsv } from '../../../src/cli/outputs.js';
import { parseBuildArgs } from '../../../src/cli/args.js';

describe('--output parsing', () => {
  it('reads each type and its fields', () => {
    expect(parseOutput('type=oci,dest=out.tar')).toMatchObject({ type: 'oci', dest: 'out.tar' });
    expect(parseOutput('type=oci,dest=dir,tar=false').attrs.tar).toBe('false');
    expect(parseOutput('type=docker,dest=d.tar,name=app:v1')).toMatchObject({ type: 'docker', dest: 'd.tar', name: 'app:v1' });
    expect(parseOutput('type=local,dest=out')).toMatchObject({ type: 'local', dest: 'out' });
    expect(parseOutput('type=tar,dest=-')).toMatchObject({ type: 'tar', dest: '-' });
    expect(parseOutput('type=registry,name=localhost:5000/a:b')).toMatchObject({ type: 'registry', name: 'localhost:5000/a:b' });
    expect(parseOutput('type=image,name=a,push=true,compression=zstd,compression-level=19,force-compression=true,oci-mediatypes=false').attrs).toMatchObject({
      push: 'true',
      compression: 'zstd',
      'compression-level': '19',
      'force-compression': 'true',
      'oci-mediatypes': 'false',
    });
  });

  it('shorthands: -o DIR is type=local, -o - is a rootfs tar on stdout', () => {
    expect(parseOutput('out/dir')).toMatchObject({ type: 'local', dest: 'out/dir' });
    expect(parseOutput('-')).toMatchObject({ type: 'tar', dest: '-' });
  });

  it('several names: quoted CSV (as buildx) or bare extra names after name=', () => {
    expect(splitCsv('type=image,"name=a:1,b:2",x=""""')).toEqual(['type=image', 'name=a:1,b:2', 'x="']);
    expect(parseOutput('type=image,"name=a:1,b:2"').name).toBe('a:1,b:2');
    expect(parseOutput('type=image,name=a:1,b:2,push=false').name).toBe('a:1,b:2');
  });

  it('annotations keep their dotted keys', () => {
    expect(parseOutput('type=oci,dest=o.tar,annotation.org.opencontainers.image.title=t,annotation-index.k=v').attrs).toMatchObject({
      'annotation.org.opencontainers.image.title': 't',
      'annotation-index.k': 'v',
    });
  });

  it('refuses what buildx refuses, with the reason', () => {
    expect(() => parseOutput('type=oci')).toThrow(/type=oci needs dest=FILE/);
    expect(() => parseOutput('type=local')).toThrow(/needs dest=DIR/);
    expect(() => parseOutput('type=registry')).toThrow(/needs name=/);
    expect(() => parseOutput('type=bogus,dest=x')).toThrow(/unknown type "bogus"/);
    expect(() => parseOutput('dest=x,foo=bar')).toThrow(/missing type=/);
    expect(() => parseOutput('type=oci,dest=x,compression=lz4')).toThrow(/gzip, zstd or uncompressed/);
    expect(() => parseOutput('type=oci,dest=x,compression-level=12')).toThrow(/0–9/);
    expect(() => parseOutput('type=oci,dest=x,compression=zstd,compression-level=23')).toThrow(/0–22/);
    expect(() => parseOutput('type=oci,dest=x,oci-mediatypes=yes')).toThrow(/true or false/);
    expect(() => parseOutput('type=docker,dest=x,tar=false')).toThrow(/only valid for type=oci/);
    expect(() => parseOutput('type=oci,"dest=x')).toThrow(/unterminated quote/);
  });

  it('build flags: several -o, --label, --load, --iidfile, --metadata-file', () => {
    const a = parseBuildArgs(['-o', 'type=oci,dest=a.tar', '-o', 'out', '--label', 'k=v', '--label', 'empty', '--load', '--iidfile', 'iid', '--metadata-file', 'md.json', '.']);
    expect(a.outputs.map((o) => o.type)).toEqual(['oci', 'local']);
    expect(a.labels).toEqual({ k: 'v', empty: '' });
    expect(a.load).toBe(true);
    expect(a.iidfile).toBe('iid');
    expect(a.metadataFile).toBe('md.json');
  });
});
