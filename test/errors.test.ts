import { describe, expect, it } from 'vitest';
import * as dgram from 'node:dgram';
import { systemError, validateInteger, validateOneOf, validatePowerOfTwo } from '../lib/internal/errors';
import { native } from '../lib/internal/native';

describe('error model', () => {
  it('system errors carry the same fields Node gives its own', async () => {
    // What node:dgram produces for EADDRINUSE, and ours for the same errno.
    const a = dgram.createSocket('udp4');
    await new Promise<void>((r) => a.bind(0, '127.0.0.1', () => r()));
    const port = a.address().port;
    const b = dgram.createSocket('udp4');
    const nodeErr = await new Promise<NodeJS.ErrnoException>((r) => {
      b.on('error', r);
      b.bind(port, '127.0.0.1');
    });
    a.close();
    b.close();
    const ours = systemError(-98, 'bind', { address: '127.0.0.1', port });
    expect(ours).toBeInstanceOf(Error);
    expect(ours.code).toBe(nodeErr.code);
    expect(ours.errno).toBe(nodeErr.errno);
    expect(ours.syscall).toBe(nodeErr.syscall);
    expect(ours.message).toBe(nodeErr.message);
  });

  it('argument mistakes are TypeError/RangeError with ERR_* codes', () => {
    expect(() => validateInteger('1', 'port')).toThrow(expect.objectContaining({ name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' }));
    expect(() => validateInteger(70000, 'port', 0, 65535)).toThrow(expect.objectContaining({ name: 'RangeError', code: 'ERR_OUT_OF_RANGE' }));
    expect(() => validateInteger(1.5, 'port')).toThrow(RangeError);
    expect(() => validateOneOf('udp5', 'type', ['udp4', 'udp6'])).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => validatePowerOfTwo(3000, 'frameSize', 2048, 4096)).toThrow(RangeError);
    expect(validatePowerOfTwo(2048, 'frameSize', 2048, 4096)).toBe(2048);
  });

  it('native strerror gives the libc message for an errno', () => {
    expect(native().strerror(-98)).toMatch(/Address already in use/);
  });
});
