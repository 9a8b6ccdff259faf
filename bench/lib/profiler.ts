import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';

/*
 * BENCH_CPU_PROFILE=<file>: a server under test profiles exactly the measured run, from the
 * stats reset that starts it to the stats call that ends it (`--cpu-prof` would also catch the
 * set-up and the warm-up). Summarize with `npx tsx bench/profile-summary.ts <file>`.
 */

const file = process.env.BENCH_CPU_PROFILE || null;
let session: Session | null = null;

/** true: start profiling (if asked to and not already); false: stop and write the file. */
export async function profileMeasuredRun(start: boolean): Promise<void> {
  if (!file) return;
  if (start && !session) {
    session = new Session();
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: 200 });
    await session.post('Profiler.start');
  } else if (!start && session) {
    const { profile } = await session.post('Profiler.stop');
    writeFileSync(file, JSON.stringify(profile));
    session.disconnect();
    session = null;
  }
}
