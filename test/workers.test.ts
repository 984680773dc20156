// The addon in several JS threads at once, and workers terminated while
// they hold native handles: the process must survive and stay usable.
import { describe, expect, it } from 'vitest';
import { Worker } from 'node:worker_threads';
import { dist } from './helpers/child';


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

describe('worker termination with native handles', () => {
  it('terminating workers that hold sockets, rings and regions leaves the process healthy', async () => {
    const code = `
      const s = rw.createUdpSocket({ type: 'udp4' }); s.bind(0, '127.0.0.1'); s.onBatch(() => {});
      const r = rw.createRegion({ size: 1 << 16 });
      setInterval(() => s.queue(Buffer.from('tick'), s.address().port, '127.0.0.1'), 1);
      require('node:worker_threads').parentPort.postMessage('ready');`;
    for (let round = 0; round < 3; round++) {
      await Promise.all(Array.from({ length: 3 }, () => new Promise<void>((resolve, reject) => {
        const w = runWorker(code);
        w.once('error', reject);
        w.once('message', () => setTimeout(() => w.terminate().then(() => resolve(), reject), 20));
      })));
    }
    // The main thread's own addon instance still works afterwards.
    const { createUdpSocket } = require(dist);
    const s = createUdpSocket({ type: 'udp4' });
    expect(s.bind(0, '127.0.0.1').port).toBeGreaterThan(0);
    await s.close();
  });
});
