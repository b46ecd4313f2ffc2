// Runs dynalite on its own thread, so the local server's handlers and the embedded DynamoDB do not
// queue behind each other on one event loop (in AWS they are separate services too). Everything
// reaches it on its 127.0.0.1 port, as the functions reach DynamoDB.
import { parentPort, workerData } from 'node:worker_threads';
import dynalite from 'dynalite';

const server = dynalite({
  ...(workerData.path ? { path: workerData.path } : {}),
  createTableMs: 0,
  deleteTableMs: 0,
  updateTableMs: 0,
});

server.listen(workerData.port ?? 0, '127.0.0.1', () => {
  parentPort.postMessage({ port: server.address().port });
});
parentPort.on('message', (msg) => {
  if (msg === 'close') {
    server.closeAllConnections?.();
    server.close(() => parentPort.postMessage({ closed: true }));
  }
});
