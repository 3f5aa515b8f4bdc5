// Text-pass thread entry (src/sanitize/convert/text-thread.ts): workerData = one job, one message back.
import { parentPort, workerData } from 'node:worker_threads';
import { runTextJob } from '../src/sanitize/convert/text-thread.js';

parentPort!.postMessage(runTextJob(workerData as Parameters<typeof runTextJob>[0]));
