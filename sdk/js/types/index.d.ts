// Types of bunbase-js (hand-written; the sources are plain ESM JavaScript).

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type Document = { _id: string; [field: string]: any };

export interface StorageAdapter {
  getItem(key: string): string | null | Promise<string | null>;
  setItem(key: string, value: string): void | Promise<void>;
  removeItem(key: string): void | Promise<void>;
}
export function memoryStorage(): StorageAdapter;
export function localStorageAdapter(storage?: Pick<StorageAdapter, 'getItem' | 'setItem' | 'removeItem'>): StorageAdapter;

export interface ClientOptions {
  /** fetch to use (default globalThis.fetch) */
  fetch?: typeof fetch;
  /** headers sent with every request */
  headers?: Record<string, string>;
  /** per request, until the answer's headers (default 30000; 0 = none) */
  timeoutMs?: number;
  auth?: AuthOptions;
  db?: { pathForm?: 'documents' | 'collections' };
}

export interface AuthOptions {
  /** where the session is kept (default memoryStorage()) */
  storage?: StorageAdapter;
  storageKey?: string;
  /** refresh this long before the access token expires (default 30000, at most a third of its life) */
  refreshMarginMs?: number;
  /** refresh in the background before expiry (default true; the timer never keeps Node alive) */
  autoRefresh?: boolean;
  /** the clock (ms since the epoch) */
  now?: () => number;
}

export declare class BunBaseError extends Error {
  name: 'BunBaseError';
  /** the HTTP status; 0 when there was no answer */
  status: number;
  /** the server's machine code (e.g. "not_found", "token_expired"), or network_error / timeout / aborted */
  code: string;
  message: string;
  /** the X-Request-Id the server answered with (find it in the server's log) */
  requestId: string | null;
  /** the server's JSON error body */
  details?: Record<string, any>;
  constructor(init?: { status?: number; code?: string; message?: string; requestId?: string | null; details?: unknown; cause?: unknown });
}

export interface User {
  id: string;
  email?: string | null;
  name?: string;
  email_verified?: boolean;
  anonymous?: boolean;
  disabled?: boolean;
  created_at?: number;
  providers?: string[];
  [k: string]: any;
}

export interface Session {
  access_token: string;
  refresh_token: string | null;
  token_type: string;
  session_id: string | null;
  /** ms since the epoch */
  issued_at: number;
  expires_at: number | null;
  refresh_expires_at: number | null;
  user: User | null;
}

export type AuthEvent = 'INITIAL_SESSION' | 'SIGNED_IN' | 'SIGNED_OUT' | 'TOKEN_REFRESHED' | 'USER_UPDATED';

export declare class AuthClient {
  signUp(credentials: { email: string; password: string; name?: string }): Promise<{ user: User; session: Session }>;
  signInWithPassword(credentials: { email: string; password: string }): Promise<{ user: User; session: Session }>;
  signInAnonymously(): Promise<{ user: User; session: Session }>;
  getOAuthSignInUrl(provider: string, options: { redirectTo: string }): string;
  signInWithOAuth(provider: string, options: { redirectTo: string; skipBrowserRedirect?: boolean }): { url: string };
  handleOAuthCallback(url?: string): Promise<{ user: User; session: Session } | null>;
  signOut(): Promise<void>;
  getSession(): Promise<Session | null>;
  readonly currentUser: User | null;
  getUser(): Promise<User | null>;
  setSession(tokens: { access_token: string; refresh_token?: string | null; expires_in?: number; user?: User }): Promise<Session>;
  onAuthStateChange(callback: (event: AuthEvent, session: Session | null) => void): (() => void) & { unsubscribe(): void };
  getAccessToken(): Promise<string | null>;
  refreshSession(): Promise<Session | null>;
}

export type WhereOp = '==' | '=' | '!=' | '<' | '<=' | '>' | '>=' | 'in' | 'not-in' | 'nin' | 'exists' | 'regex'
  | '$eq' | '$ne' | '$gt' | '$gte' | '$lt' | '$lte' | '$in' | '$nin' | '$exists' | '$regex';

export interface QueryBody {
  collection: string;
  filter: Record<string, any>;
  sort?: string[];
  limit?: number;
  skip?: number;
  cursor?: string;
  fields?: string[];
  count?: boolean;
}

export interface QueryResult<T = Document> {
  documents: T[];
  cursor: string | null;
  count?: number;
}

export interface Explain {
  plan: string;
  index: string | null;
  [k: string]: any;
}

export interface ChangeEvent<T = Document> {
  type: 'added' | 'modified' | 'removed';
  /** the document's _id */
  id: string;
  /** the whole document after the change; null for a delete (or a tooLarge notice) */
  doc: T | null;
  op: 'create' | 'update' | 'delete' | null;
  collection: string | null;
  eventId: string | null;
  tooLarge?: boolean;
  bytes?: number;
}
export interface ResetEvent { type: 'reset'; eventId: string | null }
export type RealtimeEvent<T = Document> = ChangeEvent<T> | ResetEvent;

export interface SubscribeOptions {
  onError?: (error: BunBaseError) => void;
  onStatus?: (status: 'connected' | 'disconnected' | 'reconnecting' | 'closed', detail?: unknown) => void;
  /** reconnection backoff (default 200 … 5000 ms) */
  retryMinMs?: number;
  retryMaxMs?: number;
  /** no byte (not even a heartbeat) for this long: reconnect (default 60000) */
  idleTimeoutMs?: number;
  /** resume after this event id */
  lastEventId?: string;
}

export declare class Subscription {
  /** resolves when the stream is open; rejects when it cannot be (403, 404 …) */
  readonly ready: Promise<void>;
  readonly lastEventId: string | null;
  readonly closed: boolean;
  /** how many times the stream was (re)established */
  readonly connects: number;
  unsubscribe(): void;
}

export declare class Query<T = Document> {
  readonly collection: string;
  where(field: string, op: WhereOp, value: any): Query<T>;
  where(field: string, value: any): Query<T>;
  eq(field: string, value: any): Query<T>;
  ne(field: string, value: any): Query<T>;
  gt(field: string, value: any): Query<T>;
  gte(field: string, value: any): Query<T>;
  lt(field: string, value: any): Query<T>;
  lte(field: string, value: any): Query<T>;
  in(field: string, values: any[]): Query<T>;
  nin(field: string, values: any[]): Query<T>;
  exists(field: string, yes?: boolean): Query<T>;
  regex(field: string, pattern: string, options?: string): Query<T>;
  filter(filter: Record<string, any>): Query<T>;
  or(...alternatives: Array<Query<any> | Record<string, any>>): Query<T>;
  orderBy(field: string, direction?: 'asc' | 'desc'): Query<T>;
  limit(n: number): Query<T>;
  skip(n: number): Query<T>;
  select(...fields: Array<string | string[]>): Query<T>;
  startAfter(cursor: string | null | undefined): Query<T>;
  withCount(yes?: boolean): Query<T>;
  toFilter(): Record<string, any>;
  toJSON(): QueryBody;
  get(): Promise<QueryResult<T>>;
  explain(): Promise<Explain>;
  pages(): AsyncGenerator<T[], void, unknown>;
  subscribe(handler: (event: RealtimeEvent<T>) => void, options?: SubscribeOptions): Subscription;
}

export declare class CollectionRef<T = Document> extends Query<T> {
  readonly name: string;
  query(): Query<T>;
  /** a document by id, or null */
  get(id: string): Promise<T | null>;
  /** the whole collection as a query */
  get(): Promise<QueryResult<T>>;
  list(options?: { limit?: number; skip?: number; cursor?: string; fields?: string[] | string; prefix?: string }): Promise<QueryResult<T>>;
  create(doc: Partial<T> & Record<string, any>): Promise<T>;
  replace(id: string, doc: Record<string, any>): Promise<T>;
  update(id: string, patch: Record<string, any>): Promise<T>;
  delete(id: string): Promise<boolean>;
  subscribe(handler: (event: RealtimeEvent<T>) => void, options?: SubscribeOptions): Subscription;
  subscribe(query: Query<any> | Record<string, any>, handler: (event: RealtimeEvent<T>) => void, options?: SubscribeOptions): Subscription;
}

export interface BatchResult { status: number; doc: Document | null }

export declare class WriteBatch {
  create(collection: string, doc: Record<string, any>): this;
  replace(collection: string, id: string, doc: Record<string, any>): this;
  update(collection: string, id: string, patch: Record<string, any>): this;
  delete(collection: string, id: string): this;
  readonly size: number;
  toJSON(): { writes: any[] };
  commit(): Promise<BatchResult[]>;
}

export interface CollectionInfo {
  name: string;
  schema: Record<string, any> | null;
  rules: Record<string, string> | null;
  prevent_schema_override: boolean;
  indexes?: IndexSpec[];
  [k: string]: any;
}
export interface IndexSpec { name: string; fields: string[]; unique?: boolean; state?: string; multikey?: boolean }

export declare class Database {
  listCollections(options?: { prefix?: string }): Promise<string[]>;
  createCollection(name: string, options?: { schema?: Record<string, any>; rules?: Record<string, string>; preventSchemaOverride?: boolean; updateIfExists?: boolean }): Promise<CollectionInfo>;
  getCollection(name: string): Promise<CollectionInfo>;
  updateCollection(name: string, options: { schema?: Record<string, any> | null; preventSchemaOverride?: boolean }): Promise<CollectionInfo>;
  deleteCollection(name: string): Promise<void>;
  setRules(name: string, rules: Record<string, string> | null): Promise<{ status: string; rules: Record<string, string> | null }>;
  listIndexes(name: string): Promise<IndexSpec[]>;
  createIndex(name: string, spec: { name?: string; fields?: string[]; field?: string; unique?: boolean }): Promise<IndexSpec>;
  deleteIndex(name: string, indexName: string): Promise<void>;
  collection<T = Document>(name: string, options?: { pathForm?: 'documents' | 'collections' }): CollectionRef<T>;
  batch(): WriteBatch;
}

export declare class KV {
  get(key: string | Uint8Array, options?: { as?: 'text' }): Promise<string | null>;
  get(key: string | Uint8Array, options: { as: 'bytes' }): Promise<Uint8Array | null>;
  get(key: string | Uint8Array, options: { as: 'json' }): Promise<any>;
  set(key: string | Uint8Array, value: string | Uint8Array | ArrayBuffer | Json, options?: { ttl?: number }): Promise<void>;
  del(key: string | Uint8Array): Promise<boolean>;
  delete(key: string | Uint8Array): Promise<boolean>;
  incr(key: string | Uint8Array, by?: number): Promise<number>;
  meta(key: string | Uint8Array): Promise<KeyMeta | null>;
  keys(pattern?: string, options?: { meta?: false }): Promise<string[]>;
  keys(pattern: string | undefined, options: { meta: true }): Promise<KeyMeta[]>;
}

/** A key's metadata: its Redis type and remaining time to live (null: no expiry). */
export interface KeyMeta {
  key: string;
  type: 'string' | 'list' | 'hash' | 'set' | 'zset' | 'stream' | string;
  ttl_ms: number | null;
}

export interface InvokeOptions {
  method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  headers?: Record<string, string>;
  query?: Record<string, string | number | boolean | undefined>;
  responseType?: 'auto' | 'json' | 'text' | 'bytes' | 'response';
  signal?: AbortSignal;
}

export declare class Functions {
  invoke<R = any>(name: string, body?: any, options?: InvokeOptions): Promise<R>;
}

export interface RequestOptions {
  body?: any;
  query?: Record<string, any>;
  headers?: Record<string, string>;
  contentType?: string;
  responseType?: 'auto' | 'json' | 'text' | 'bytes' | 'response';
  auth?: boolean;
  signal?: AbortSignal;
  notFoundNull?: boolean;
}

export declare class BunBaseClient {
  readonly url: string;
  readonly key: string;
  readonly keyKind: 'publishable' | 'secret';
  readonly auth: AuthClient;
  readonly db: Database;
  readonly kv: KV;
  readonly functions: Functions;
  constructor(url: string, key: string, options?: ClientOptions);
  getProject(): Promise<{ project: { id: string; name: string; slug: string; owner_id: string; [k: string]: any }; key: 'pk' | 'sk'; config: Record<string, any> }>;
  request<R = any>(method: string, path: string, options?: RequestOptions): Promise<R>;
}

export function createClient(url: string, key: string, options?: ClientOptions): BunBaseClient;

export declare class SSEParser {
  constructor(onEvent: (event: { id: string | null; ownId: boolean; event: string; data: string }) => void);
  feed(chunk: string): void;
}
