// The peer: Bun.serve running bench/functions/hello.js's handler. Usage: bun serve.js PORT
import handler from './hello.js';

const server = Bun.serve({ port: Number(process.argv[2]), hostname: '127.0.0.1', fetch: handler.fetch });
console.log(`listening ${server.port}`);
