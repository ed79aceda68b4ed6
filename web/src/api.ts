// The console's API client: every call the console makes, against the routes bunbased serves
// (src/platform/platform.c). The developer session is the HttpOnly `session_token` cookie set by
// POST /v1/auth/login (or /v1/setup); same-origin requests carry it, so no token is kept in JS.

export class ApiError extends Error {
  status: number;
  code: string;
  body: unknown;
  constructor(status: number, code: string, message: string, body: unknown) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.body = body;
  }
}

/** The API base: the serving origin's /v1 (the console is served by bunbased itself). */
export function defaultBase(loc: { origin: string } = window.location): string {
  return `${loc.origin}/v1`;
}

export const enc = encodeURIComponent;

type FetchFn = typeof fetch;

export interface RequestOptions {
  json?: unknown;
  body?: BodyInit;
  contentType?: string;
  headers?: Record<string, string>;
  /** 'json' (default), 'text' or 'response' (the raw Response, any status). */
  as?: 'json' | 'text' | 'response';
  /** A 401 here is an answer, not an expired session (sign-in, the first /auth/me). */
  expect401?: boolean;
  signal?: AbortSignal;
}

export interface User {
  id: string;
  email: string;
  name: string;
  created_at: number;
  email_verified: boolean;
  is_instance_admin?: boolean;
}
export interface Session {
  id: string;
  created_at: number | string;
  last_used_at: number | string;
  expires_at: number | string;
  ip: string | null;
  user_agent: string | null;
  current: boolean;
}
export interface Pat {
  id: string;
  name: string;
  prefix: string;
  scopes: string[] | null;
  created_at: number | string;
  expires_at: number | string;
  expired: boolean;
  last_used_at: number | string | null;
}
export interface InstanceStatus {
  version: string;
  deployment_mode: 'cloud' | 'self_hosted';
  setup_complete: boolean;
  services: string[];
}
export interface Project {
  id: string;
  name: string;
  slug: string;
  owner_id: string;
  created_at: number;
  updated_at?: number;
  role?: string;
  keys?: NewKey[];
}
/** One record of a project's audit log (GET /v1/projects/{pid}/audit). */
export interface AuditRecord {
  id: number;
  at: string;
  actor: { kind: string; id: string | null; label: string };
  action: string;
  target: string;
  detail: Record<string, unknown>;
  outcome: string;
  request_id: string;
  project_id: string | null;
}
export interface AuditPage {
  records: AuditRecord[];
  next_cursor: string | null;
}
export interface AuditFilter {
  action?: string;
  actor?: string;
  since?: string;
  until?: string;
  cursor?: string;
  limit?: number;
}

export interface KeyInfo {
  id: string;
  kind: 'pk' | 'sk';
  prefix: string;
  created_at: number;
}
export interface NewKey extends KeyInfo {
  key: string;
  replaces?: string;
}
export interface Member {
  user_id: string;
  email: string;
  name: string;
  role: string;
  created_at: number;
}
export interface Collection {
  name: string;
  schema: unknown;
  rules: Record<string, string> | null;
  prevent_schema_override?: boolean;
  indexes?: IndexSpec[];
}
export interface IndexSpec {
  name: string;
  fields: string[];
  unique?: boolean;
  state?: string;
  multikey?: boolean;
}
export type Doc = Record<string, unknown> & { _id?: string };
export interface DocPage {
  documents: Doc[];
  cursor: string | null;
  explain?: unknown;
  count?: number;
}
export interface FnInfo {
  name: string;
  active_version: number;
  runtime: string;
  sha256: string;
  size: number;
  versions: number;
  created_ms: number;
  updated_ms: number;
}
export interface FnVersion {
  version: number;
  sha256: string;
  size: number;
  created_ms: number;
  active: boolean;
}
export interface FnLog {
  id: string;
  version: number;
  started_ms: number;
  duration_ms: number;
  status: number;
  cold: boolean;
  error: string | null;
  logs: string;
}
export interface FnMinute {
  minute_ms: number;
  count: number;
  errors: number;
  cold: number;
  total_ms: number;
}
export interface EndUser {
  id: string;
  email?: string;
  name?: string;
  disabled?: boolean;
  anonymous?: boolean;
  email_verified?: boolean;
  created_at?: number | string;
}

/** A KV key with its metadata (GET …/kv?pattern=&meta=1): ttl_ms is null without expiry. */
export interface KvKey {
  key: string;
  type: string;
  ttl_ms: number | null;
}

export class Api {
  base: string;
  private fetchFn: FetchFn;
  /** Called when a request answers 401 (the session expired or was revoked). */
  onUnauthorized: (() => void) | null = null;

  constructor(base: string = defaultBase(), fetchFn?: FetchFn) {
    this.base = base.replace(/\/+$/, '');
    this.fetchFn = fetchFn ?? ((input, init) => fetch(input, init));
  }

  url(path: string): string {
    return this.base + path;
  }

  async request<T = unknown>(method: string, path: string, o: RequestOptions = {}): Promise<T> {
    const headers: Record<string, string> = { Accept: 'application/json', ...(o.headers ?? {}) };
    let body: BodyInit | undefined = o.body;
    if (o.json !== undefined) {
      body = JSON.stringify(o.json);
      headers['Content-Type'] = 'application/json';
    } else if (o.contentType) {
      headers['Content-Type'] = o.contentType;
    }
    let res: Response;
    try {
      res = await this.fetchFn(this.url(path), {
        method,
        headers,
        body,
        credentials: 'same-origin',
        signal: o.signal,
      });
    } catch (e) {
      if ((e as Error)?.name === 'AbortError') throw e;
      throw new ApiError(0, 'network_error', `cannot reach the server (${(e as Error).message})`, null);
    }
    if (o.as === 'response') return res as unknown as T;
    if (!res.ok) {
      let parsed: unknown = null;
      const text = await res.text().catch(() => '');
      try {
        parsed = text ? JSON.parse(text) : null;
      } catch {
        parsed = text;
      }
      const obj = (parsed && typeof parsed === 'object' ? parsed : {}) as Record<string, unknown>;
      const msg = typeof obj.error === 'string' ? obj.error : `HTTP ${res.status}`;
      const code = typeof obj.code === 'string' ? obj.code : `http_${res.status}`;
      if (res.status === 401 && !o.expect401 && this.onUnauthorized) this.onUnauthorized();
      throw new ApiError(res.status, code, msg, parsed);
    }
    if (o.as === 'text') return (await res.text()) as unknown as T;
    if (res.status === 204) return undefined as T;
    const text = await res.text();
    return (text ? JSON.parse(text) : undefined) as T;
  }

  // ---------------------------------------------------------------- instance and account
  status() {
    return this.request<InstanceStatus>('GET', '/instance/status');
  }
  setup(email: string, password: string, name: string) {
    return this.request<{ user: User }>('POST', '/setup', { json: { email, password, name } });
  }
  register(email: string, password: string, name: string) {
    return this.request<User>('POST', '/auth/register', { json: { email, password, name } });
  }
  login(email: string, password: string) {
    return this.request<{ user: User }>('POST', '/auth/login', {
      json: { email, password },
      expect401: true,
    });
  }
  logout() {
    return this.request('POST', '/auth/logout', { json: {}, expect401: true });
  }
  me() {
    return this.request<User>('GET', '/auth/me', { expect401: true });
  }

  sessions() {
    return this.request<Session[] | { sessions: Session[] }>('GET', '/auth/sessions').then((r) =>
      Array.isArray(r) ? r : r.sessions,
    );
  }
  revokeSession(id: string) {
    return this.request('DELETE', `/auth/sessions/${enc(id)}`);
  }
  tokens() {
    return this.request<Pat[] | { tokens: Pat[] }>('GET', '/auth/tokens').then((r) => (Array.isArray(r) ? r : r.tokens));
  }
  createToken(name: string, ttl_seconds?: number) {
    return this.request<Pat & { token: string }>('POST', '/auth/tokens', {
      json: ttl_seconds ? { name, ttl_seconds } : { name },
    });
  }
  revokeToken(id: string) {
    return this.request('DELETE', `/auth/tokens/${enc(id)}`);
  }

  // ---------------------------------------------------------------- projects
  projects() {
    return this.request<Project[] | { projects: Project[] }>('GET', '/projects').then((r) =>
      Array.isArray(r) ? r : r.projects,
    );
  }
  createProject(name: string) {
    return this.request<Project>('POST', '/projects', { json: { name } });
  }
  project(pid: string) {
    return this.request<Project>('GET', `/projects/${enc(pid)}`);
  }
  updateProject(pid: string, patch: { name?: string; slug?: string }) {
    return this.request<Project>('PATCH', `/projects/${enc(pid)}`, { json: patch });
  }
  deleteProject(pid: string) {
    return this.request('DELETE', `/projects/${enc(pid)}`);
  }
  members(pid: string) {
    return this.request<Member[] | { members: Member[] }>('GET', `/projects/${enc(pid)}/members`).then(
      (r) => (Array.isArray(r) ? r : r.members),
    );
  }
  addMember(pid: string, email: string, role: string) {
    return this.request('POST', `/projects/${enc(pid)}/members`, { json: { email, role } });
  }
  setMemberRole(pid: string, uid: string, role: string) {
    return this.request('PATCH', `/projects/${enc(pid)}/members/${enc(uid)}`, { json: { role } });
  }
  removeMember(pid: string, uid: string) {
    return this.request('DELETE', `/projects/${enc(pid)}/members/${enc(uid)}`);
  }
  keys(pid: string) {
    return this.request<KeyInfo[] | { keys: KeyInfo[] }>('GET', `/projects/${enc(pid)}/keys`).then((r) =>
      Array.isArray(r) ? r : r.keys,
    );
  }
  createKey(pid: string, kind: 'pk' | 'sk') {
    return this.request<NewKey>('POST', `/projects/${enc(pid)}/keys`, { json: { kind } });
  }
  regenerateKey(pid: string, keyId: string) {
    return this.request<NewKey>('POST', `/projects/${enc(pid)}/keys/${enc(keyId)}/regenerate`, { json: {} });
  }
  revokeKey(pid: string, keyId: string) {
    return this.request('DELETE', `/projects/${enc(pid)}/keys/${enc(keyId)}`);
  }
  /** The project's audit log, newest first; empty filters are left out. */
  audit(pid: string, f: AuditFilter = {}) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(f)) if (v !== undefined && v !== '') q.set(k, String(v));
    const qs = q.toString();
    return this.request<AuditPage>('GET', `/projects/${enc(pid)}/audit${qs ? `?${qs}` : ''}`);
  }
  cors(pid: string) {
    return this.request<{ allowed_origins: string[] }>('GET', `/projects/${enc(pid)}/cors`);
  }
  setCors(pid: string, allowed_origins: string[]) {
    return this.request<{ allowed_origins: string[] }>('PUT', `/projects/${enc(pid)}/cors`, {
      json: { allowed_origins },
    });
  }

  // ---------------------------------------------------------------- database
  private db(pid: string) {
    return `/projects/${enc(pid)}/database`;
  }
  collections(pid: string) {
    return this.request<{ collections: string[] }>('GET', `${this.db(pid)}/collections`).then(
      (r) => r.collections,
    );
  }
  collection(pid: string, name: string) {
    return this.request<Collection>('GET', `${this.db(pid)}/collections/${enc(name)}`);
  }
  createCollection(pid: string, name: string, rules?: Record<string, string>) {
    return this.request<Collection>('POST', `${this.db(pid)}/collections`, {
      json: rules ? { name, rules } : { name },
    });
  }
  deleteCollection(pid: string, name: string) {
    return this.request('DELETE', `${this.db(pid)}/collections/${enc(name)}`);
  }
  setRules(pid: string, name: string, rules: Record<string, string> | null) {
    return this.request('PATCH', `${this.db(pid)}/collections/${enc(name)}/rules`, { json: { rules } });
  }
  setSchema(pid: string, name: string, schema: unknown) {
    return this.request<Collection>('PATCH', `${this.db(pid)}/collections/${enc(name)}`, {
      json: { schema },
    });
  }
  indexes(pid: string, name: string) {
    return this.request<{ indexes: IndexSpec[] }>(
      'GET',
      `${this.db(pid)}/collections/${enc(name)}/indexes`,
    ).then((r) => r.indexes);
  }
  createIndex(pid: string, name: string, spec: { name: string; fields: string[]; unique?: boolean }) {
    return this.request('POST', `${this.db(pid)}/collections/${enc(name)}/indexes`, { json: spec });
  }
  dropIndex(pid: string, name: string, index: string) {
    return this.request('DELETE', `${this.db(pid)}/collections/${enc(name)}/indexes/${enc(index)}`);
  }
  documents(pid: string, name: string, opts: { limit?: number; cursor?: string | null } = {}) {
    const q = new URLSearchParams();
    if (opts.limit) q.set('limit', String(opts.limit));
    if (opts.cursor) q.set('cursor', opts.cursor);
    const qs = q.toString();
    return this.request<DocPage>(
      'GET',
      `${this.db(pid)}/collections/${enc(name)}/documents${qs ? `?${qs}` : ''}`,
    );
  }
  query(
    pid: string,
    collection: string,
    filter: unknown,
    opts: { limit?: number; cursor?: string | null; explain?: boolean; sort?: unknown } = {},
  ) {
    const body: Record<string, unknown> = { collection, filter };
    if (opts.limit) body.limit = opts.limit;
    if (opts.cursor) body.cursor = opts.cursor;
    if (opts.explain) body.explain = true;
    if (opts.sort) body.sort = opts.sort;
    return this.request<DocPage>('POST', `${this.db(pid)}/documents/query`, { json: body });
  }
  createDocument(pid: string, name: string, doc: Doc) {
    return this.request<Doc>('POST', `${this.db(pid)}/collections/${enc(name)}/documents`, { json: doc });
  }
  replaceDocument(pid: string, name: string, id: string, doc: Doc) {
    return this.request<Doc>('PUT', `${this.db(pid)}/collections/${enc(name)}/documents/${enc(id)}`, {
      json: doc,
    });
  }
  deleteDocument(pid: string, name: string, id: string) {
    return this.request('DELETE', `${this.db(pid)}/collections/${enc(name)}/documents/${enc(id)}`);
  }
  /** The live changes of a query: a streaming Response (SSE) to read with readSse. */
  subscribeQuery(pid: string, collection: string, filter: unknown, signal: AbortSignal) {
    return this.request<Response>('POST', `${this.db(pid)}/documents/query/subscribe`, {
      json: { collection, filter },
      headers: { Accept: 'text/event-stream' },
      as: 'response',
      signal,
    });
  }
  subscribeUrl(pid: string, name: string) {
    return this.url(`${this.db(pid)}/collections/${enc(name)}/subscribe`);
  }

  // ---------------------------------------------------------------- key-value
  /** The keys matching a glob with their type and remaining TTL (meta=1). */
  kvKeys(pid: string, pattern: string) {
    return this.request<KvKey[]>('GET', `/projects/${enc(pid)}/kv?pattern=${enc(pattern || '*')}&meta=1`);
  }
  kvGet(pid: string, key: string) {
    return this.request<string>('GET', `/projects/${enc(pid)}/kv/${enc(key)}`, { as: 'text' });
  }
  kvSet(pid: string, key: string, value: string, ttlSeconds?: number) {
    const qs = ttlSeconds ? `?ttl=${ttlSeconds}` : '';
    return this.request('PUT', `/projects/${enc(pid)}/kv/${enc(key)}${qs}`, {
      body: value,
      contentType: 'application/octet-stream',
      as: 'text',
    });
  }
  kvDelete(pid: string, key: string) {
    return this.request('DELETE', `/projects/${enc(pid)}/kv/${enc(key)}`, { as: 'text' });
  }

  // ---------------------------------------------------------------- functions
  private fns(pid: string) {
    return `/projects/${enc(pid)}/functions`;
  }
  functions(pid: string) {
    return this.request<{ functions: FnInfo[] }>('GET', this.fns(pid)).then((r) => r.functions);
  }
  deploy(pid: string, name: string, source: string, runtime = 'quickjs') {
    return this.request<{ name: string; version: number; created: boolean }>(
      'PUT',
      `${this.fns(pid)}/${enc(name)}?runtime=${enc(runtime)}`,
      { body: source, contentType: 'application/javascript' },
    );
  }
  deleteFunction(pid: string, name: string) {
    return this.request('DELETE', `${this.fns(pid)}/${enc(name)}`);
  }
  versions(pid: string, name: string) {
    return this.request<{ active_version: number; versions: FnVersion[] }>(
      'GET',
      `${this.fns(pid)}/${enc(name)}/versions`,
    );
  }
  rollback(pid: string, name: string) {
    return this.request('POST', `${this.fns(pid)}/${enc(name)}/rollback`, { json: {} });
  }
  activate(pid: string, name: string, version: number) {
    return this.request('POST', `${this.fns(pid)}/${enc(name)}/activate`, { json: { version } });
  }
  invoke(pid: string, name: string, method: string, body?: string) {
    return this.request<Response>(method, `${this.fns(pid)}/${enc(name)}/invoke`, {
      body: method === 'GET' || method === 'DELETE' ? undefined : body,
      contentType: 'application/json',
      as: 'response',
    });
  }
  envNames(pid: string, name: string) {
    return this.request<{ names: string[] }>('GET', `${this.fns(pid)}/${enc(name)}/env`).then((r) => r.names);
  }
  setEnv(pid: string, name: string, vars: Record<string, string>) {
    return this.request('PUT', `${this.fns(pid)}/${enc(name)}/env`, { json: vars });
  }
  logs(pid: string, name: string, limit = 50) {
    return this.request<{ invocations: FnLog[] }>(
      'GET',
      `${this.fns(pid)}/${enc(name)}/logs?limit=${limit}`,
    ).then((r) => r.invocations);
  }
  metrics(pid: string, name: string, minutes = 30) {
    return this.request<{ minutes: FnMinute[] } | FnMinute[]>(
      'GET',
      `${this.fns(pid)}/${enc(name)}/metrics?minutes=${minutes}`,
    ).then((r) => (Array.isArray(r) ? r : r.minutes ?? []));
  }

  // ---------------------------------------------------------------- end-user auth (tenant-auth)
  authUsers(pid: string, cursor?: string | null) {
    const qs = cursor ? `?cursor=${enc(cursor)}` : '';
    return this.request<{ users: EndUser[]; cursor: string | null }>(
      'GET',
      `/projects/${enc(pid)}/auth/users${qs}`,
    );
  }
  createAuthUser(pid: string, email: string, password: string) {
    return this.request<EndUser>('POST', `/projects/${enc(pid)}/auth/users`, { json: { email, password } });
  }
  setAuthUserDisabled(pid: string, uid: string, disabled: boolean) {
    return this.request('POST', `/projects/${enc(pid)}/auth/users/${enc(uid)}/${disabled ? 'disable' : 'enable'}`, {
      json: {},
    });
  }
  deleteAuthUser(pid: string, uid: string) {
    return this.request('DELETE', `/projects/${enc(pid)}/auth/users/${enc(uid)}`);
  }
  authConfig(pid: string) {
    return this.request<Record<string, unknown>>('GET', `/projects/${enc(pid)}/auth/config`);
  }
  setAuthConfig(pid: string, config: Record<string, unknown>) {
    return this.request<Record<string, unknown>>('PUT', `/projects/${enc(pid)}/auth/config`, { json: config });
  }
}

/** Parses JSON for an editor: the value, or the parser's message. */
export function parseJson(text: string): { ok: true; value: unknown } | { ok: false; error: string } {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (e) {
    return { ok: false, error: (e as Error).message };
  }
}
