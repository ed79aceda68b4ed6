// The benchmarked handler: the same file is deployed to BunBase (QuickJS runtime) and served by
// Bun directly (serve.js).
export default {
  async fetch(request) {
    return Response.json({ hello: 'world', method: request.method });
  },
};
