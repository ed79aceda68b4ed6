// bunbase-js: the JavaScript client of BunBase (ESM, no dependencies; Node >= 18 and browsers).
export { createClient, BunBaseClient } from './client.js';
export { BunBaseError } from './errors.js';
export { memoryStorage, localStorageAdapter } from './storage.js';
export { Query, CollectionRef, WriteBatch, Database } from './db.js';
export { Subscription, SSEParser } from './realtime.js';
export { AuthClient } from './auth.js';
export { KV } from './kv.js';
export { Functions } from './functions.js';
