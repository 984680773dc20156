// Bounded waiting for the tests: every loop ends in time, and a condition
// that never holds fails with a message saying what was awaited.
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `cond` every `every` ms until it holds; throws after `ms` ms ("timed out waiting for <what>"). */
export async function until(cond: () => boolean, ms = 5000, what = 'condition', every = 2): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(every);
  }
}
