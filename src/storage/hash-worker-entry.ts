// Hash thread body: reads a batch of files synchronously (1 MiB chunks) and answers with
// each one's size and SHA-256, or why it could not be read.
import { parentPort, workerData } from 'node:worker_threads';
import { errorReply } from '../threads.ts';
import { hashBatch, type HashRequest } from './hash-pool.ts';

const { root } = workerData as { root: string };

parentPort!.on('message', (m: HashRequest) => {
  try {
    parentPort!.postMessage({ id: m.id, ...hashBatch(root, m.paths.split('\0')) });
  } catch (err) {
    parentPort!.postMessage(errorReply(m.id, err));
  }
});
