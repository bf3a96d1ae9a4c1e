/** Docker config credentials: auths, credsStore, credHelpers (a real helper script on PATH), login/logout writes. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eraseCredentials, lookupCredentials, storeCredentials } from '../../../src/registry/credentials.js';

let dir: string;
let oldPath: string | undefined;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tsbuild-creds-'));
  // A credential helper that keeps its secrets in a JSON file and logs each action.
  writeFileSync(
    join(dir, 'docker-credential-testhelper'),
    `#!/bin/sh
db='${dir}/helper-db.json'
echo "$1" >> '${dir}/helper.log'
input=$(cat)
case "$1" in
  get) node -e 'let db={};try{db=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8"))}catch{};const e=db[process.argv[2]];if(!e){console.log("credentials not found in native keychain");process.exit(1)}console.log(JSON.stringify({ServerURL:process.argv[2],Username:e.u,Secret:e.s}))' "$db" "$input" ;;
  store) node -e 'const fs=require("fs");let db={};try{db=JSON.parse(fs.readFileSync(process.argv[1],"utf8"))}catch{};const j=JSON.parse(process.argv[2]);db[j.ServerURL]={u:j.Username,s:j.Secret};fs.writeFileSync(process.argv[1],JSON.stringify(db))' "$db" "$input" ;;
  erase) node -e 'const fs=require("fs");const db=JSON.parse(fs.readFileSync(process.argv[1],"utf8"));if(!db[process.argv[2]])process.exit(1);delete db[process.argv[2]];fs.writeFileSync(process.argv[1],JSON.stringify(db))' "$db" "$input" ;;
esac
`,
  );
  chmodSync(join(dir, 'docker-credential-testhelper'), 0o755);
  oldPath = process.env.PATH;
  process.env.PATH = `${dir}:${process.env.PATH}`;
});

afterAll(() => {
  process.env.PATH = oldPath;
  rmSync(dir, { recursive: true, force: true });
});

describe('Docker config credentials', () => {
  it('reads auths (base64 user:password), Docker Hub under its legacy key, identity tokens', async () => {
    const cfg = join(dir, 'a.json');
    writeFileSync(cfg, JSON.stringify({ auths: { 'reg.example.com:5000': { auth: Buffer.from('bob:pw:with:colons').toString('base64') }, 'https://index.docker.io/v1/': { auth: Buffer.from('hub:hubpw').toString('base64') }, 'tok.example.com': { identitytoken: 'refresh-abc' } } }));
    expect(await lookupCredentials('reg.example.com:5000', cfg)).toEqual({ username: 'bob', password: 'pw:with:colons' });
    expect(await lookupCredentials('docker.io', cfg)).toEqual({ username: 'hub', password: 'hubpw' });
    expect((await lookupCredentials('tok.example.com', cfg))?.identityToken).toBe('refresh-abc');
    expect(await lookupCredentials('other.example.com', cfg)).toBeUndefined();
    expect(await lookupCredentials('x', join(dir, 'missing.json'))).toBeUndefined();
  });

  it('login/logout write auths in a 0600 file, keeping other keys', async () => {
    const cfg = join(dir, 'b.json');
    writeFileSync(cfg, JSON.stringify({ auths: {}, psFormat: 'table' }));
    await storeCredentials('reg.example.com', { username: 'u', password: 'p' }, cfg);
    const j = JSON.parse(readFileSync(cfg, 'utf8'));
    expect(j.psFormat).toBe('table');
    expect(Buffer.from(j.auths['reg.example.com'].auth, 'base64').toString()).toBe('u:p');
    expect(statSync(cfg).mode & 0o777).toBe(0o600);
    expect(await eraseCredentials('reg.example.com', cfg)).toBe(true);
    expect(JSON.parse(readFileSync(cfg, 'utf8')).auths).toEqual({});
    expect(await eraseCredentials('reg.example.com', cfg)).toBe(false);
  });

  it('credHelpers: runs docker-credential-<name> get/store/erase for that registry only', async () => {
    const cfg = join(dir, 'c.json');
    writeFileSync(cfg, JSON.stringify({ credHelpers: { 'helped.example.com': 'testhelper' }, auths: { 'plain.example.com': { auth: Buffer.from('p:q').toString('base64') } } }));
    expect(await lookupCredentials('helped.example.com', cfg)).toBeUndefined(); // helper: not found
    await storeCredentials('helped.example.com', { username: 'hu', password: 'hs' }, cfg);
    expect(JSON.parse(readFileSync(cfg, 'utf8')).auths['helped.example.com']).toBeUndefined();
    expect(await lookupCredentials('helped.example.com', cfg)).toEqual({ username: 'hu', password: 'hs' });
    expect(await lookupCredentials('plain.example.com', cfg)).toEqual({ username: 'p', password: 'q' });
    expect(readFileSync(join(dir, 'helper.log'), 'utf8').split('\n').filter(Boolean)).toEqual(['get', 'store', 'get']);
    expect(await eraseCredentials('helped.example.com', cfg)).toBe(true);
    expect(await lookupCredentials('helped.example.com', cfg)).toBeUndefined();
  });

  it('credsStore applies to every registry; a missing helper is a clear error', async () => {
    const cfg = join(dir, 'd.json');
    writeFileSync(cfg, JSON.stringify({ credsStore: 'testhelper' }));
    await storeCredentials('any.example.com', { username: 'a', password: 'b' }, cfg);
    expect(await lookupCredentials('any.example.com', cfg)).toEqual({ username: 'a', password: 'b' });
    expect(existsSync(join(dir, 'helper-db.json'))).toBe(true);
    writeFileSync(cfg, JSON.stringify({ credsStore: 'nosuchhelper' }));
    await expect(lookupCredentials('any.example.com', cfg)).rejects.toThrow(/docker-credential-nosuchhelper is not on PATH/);
  });
});
