// Worker threads do not inherit `--import tsx`: from source (development, tests) a thread starts here, which
// registers tsx and then loads the TypeScript entry named in workerData. The built package never uses it.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData.entry);
