// The addon in several JS threads at once, and workers terminated while
// they hold native handles: the process must survive and stay usable.
import { describe, expect, it } from 'vitest';
import { Worker } from 'node:worker_threads';
import * as path from 'node:path';

const dist = path.resolve(__dirname, '..', 'dist');

function runWorker(code: string): Worker {
  return new Worker(`const rw = require(${JSON.stringify(dist)}); ${code}`, { eval: true });
}

describe('worker_threads', () => {
  it('loads and probes in the main thread and four workers at once', async () => {
    const results = await Promise.all(
      Array.from({ length: 4 }, () => new Promise<boolean>((resolve, reject) => {
        const w = runWorker(`require('node:worker_threads').parentPort.postMessage(rw.capabilities().io_uring.available)`);
        w.once('message', resolve);
        w.once('error', reject);
      })),
    );
    const { capabilities } = require(dist);
    expect(results).toEqual(Array(4).fill(capabilities().io_uring.available));
  });
});
