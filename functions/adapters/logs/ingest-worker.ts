/**
 * Worker-thread entry of IngestPool: reads the tasks the pool sends, one at a time, and answers with
 * rows and outcomes. Its settings arrive as `workerData`.
 */
import { parentPort, workerData } from 'node:worker_threads';
import {
  type FingerprintMessage,
  fingerprintFiles,
  type RunnerSettings,
  type TaskMessage,
  TaskRunner,
  type WorkerMessage,
} from './ingest-task.js';

const port = parentPort;
if (port === null) throw new Error('ingest-worker must run in a worker thread');

const runner = new TaskRunner((workerData as { settings: RunnerSettings }).settings, (message, transfer) =>
  port.postMessage(message, transfer),
);

// The pool sends the next task while this one runs (see IngestPool.run): they are read in order.
let queue: Promise<void> = Promise.resolve();
port.on('message', (task: TaskMessage | FingerprintMessage) => {
  queue = queue.then(async () => {
    let answer: WorkerMessage;
    try {
      answer =
        task.type === 'fingerprint'
          ? fingerprintFiles(task)
          : { type: 'done', id: task.id, outcomes: await runner.run(task) };
    } catch (e) {
      const error = e instanceof Error ? e : new Error(String(e));
      answer = { type: 'failed', id: task.id, message: error.message, stack: error.stack };
    }
    port.postMessage(answer);
  });
});
