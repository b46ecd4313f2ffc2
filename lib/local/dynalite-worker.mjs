// Runs dynalite on its own thread, so the local server's handlers and the embedded DynamoDB do not
// queue behind each other on one event loop (in AWS they are separate services too). It listens on
// 127.0.0.1 for outside tools (the CLI), and takes the local handlers' requests over the worker's
// message port, without a socket (see in-process-transport.ts).
import { PassThrough } from 'node:stream';
import { parentPort, workerData } from 'node:worker_threads';
import dynalite from 'dynalite';

const server = dynalite({
  ...(workerData.path ? { path: workerData.path } : {}),
  createTableMs: 0,
  deleteTableMs: 0,
  updateTableMs: 0,
});

function handle({ id, method, path, headers, body }) {
  const req = Object.assign(new PassThrough(), { headers, method, url: path });
  const out = {};
  const res = {
    statusCode: 200,
    contentType: 'application/x-amz-json-1.0',
    setHeader(k, v) {
      out[k.toLowerCase()] = String(v);
    },
    getHeader(k) {
      return out[k.toLowerCase()];
    },
    end(payload) {
      parentPort.postMessage({ id, statusCode: res.statusCode, headers: out, body: payload === undefined ? '' : String(payload) });
    },
  };
  server.emit('request', req, res);
  req.end(body ?? '');
}

server.listen(workerData.port ?? 0, '127.0.0.1', () => {
  parentPort.postMessage({ port: server.address().port });
});
parentPort.on('message', (msg) => {
  if (msg === 'close') {
    server.closeAllConnections?.();
    server.close(() => parentPort.postMessage({ closed: true }));
  } else if (msg && msg.id !== undefined) {
    handle(msg);
  }
});
