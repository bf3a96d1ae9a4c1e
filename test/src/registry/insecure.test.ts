import { describe, expect, it } from 'vitest';
import { isInsecure, isLocalHost } from '../../../src/registry/insecure.js';

describe('isLocalHost (plain HTTP allowed)', () => {
  it('only for localhost and loopback addresses', () => {
    for (const h of ['localhost', 'localhost:5000', '127.0.0.1:5000', '[::1]:5000']) expect(isLocalHost(h)).toBe(true);
    for (const h of ['registry.example.com', '10.0.0.1:5000', 'localhost.example.com']) expect(isLocalHost(h)).toBe(false);
  });
});

describe('isInsecure (--insecure-registry)', () => {
  it('matches the registry as named, with or without its port', () => {
    expect(isInsecure('reg.example.com:5000', { insecure: ['reg.example.com:5000'] })).toBe(true);
    expect(isInsecure('reg.example.com:5000', { insecure: ['reg.example.com'] })).toBe(true);
    expect(isInsecure('reg.example.com', { insecure: ['reg.example.com:5000'] })).toBe(false);
    expect(isInsecure('other.example.com', { insecure: ['reg.example.com'] })).toBe(false);
    expect(isInsecure('reg.example.com', {})).toBe(false);
  });
});
