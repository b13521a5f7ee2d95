// Cutting a line too long to wait for: never inside a UTF-8 character, never inside a secret.
import { describe, expect, it } from 'vitest';
import { safeCut } from '../../agent-node/uploader.js';
import { redact, registerSecret } from '../../runtime/redact.js';

describe('safeCut', () => {
  it('cuts after a separator no secret contains, so a secret near the cut is redacted whole', () => {
    const secret = 'sk-test-SECRET-value-0123456789';
    registerSecret(secret);
    const text = 'x'.repeat(1000) + ' ' + secret + 'z'.repeat(40);
    const buf = Buffer.from(text);
    const cut = safeCut(buf, 60); // 60 bytes back from the end falls inside the secret
    expect(buf.length - 60).toBeGreaterThan(1001);
    expect(buf.length - 60).toBeLessThan(1001 + secret.length);
    const head = buf.subarray(0, cut).toString('utf8');
    const tail = buf.subarray(cut).toString('utf8');
    expect(head + tail).toBe(text);
    expect(redact(head)).not.toContain('sk-test');
    expect(redact(tail)).not.toContain('SECRET');
    expect(tail.startsWith(secret)).toBe(true);
  });

  it('in one unbroken word, never splits a multi-byte character', () => {
    const buf = Buffer.from('é'.repeat(5000)); // 2 bytes each, no separators
    for (const keep of [1, 2, 3, 577]) {
      const cut = safeCut(buf, keep);
      expect(cut % 2).toBe(0);
      expect(buf.subarray(0, cut).toString('utf8')).toBe('é'.repeat(cut / 2));
    }
  });
});
