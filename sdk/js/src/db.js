// Documents (bundoc-server through the gateway, /v1/database/…): collections, documents on both
// path forms, the query builder, batches and realtime subscriptions.

import { Subscription } from './realtime.js';

const D = '/v1/database';
const enc = encodeURIComponent;

const OPS = {
  '==': '$eq', '=': '$eq', '!=': '$ne', '<': '$lt', '<=': '$lte', '>': '$gt', '>=': '$gte',
  in: '$in', 'not-in': '$nin', nin: '$nin', exists: '$exists', regex: '$regex',
};
const DOLLAR_OPS = new Set(['$eq', '$ne', '$gt', '$gte', '$lt', '$lte', '$in', '$nin', '$exists', '$regex']);

export class Database {
  constructor(client, opts) {
    this._c = client;
    this._form = opts.pathForm || 'documents';
    if (this._form !== 'documents' && this._form !== 'collections') throw new TypeError("db.pathForm: 'documents' or 'collections'");
  }

  /** GET /collections[?prefix=] → the names. */
  async listCollections({ prefix } = {}) {
    return (await this._c.request('GET', `${D}/collections`, { query: { prefix } })).collections;
  }

  /** POST /collections {name, schema?, rules?, …} → the collection (sk_ or a developer). */
  createCollection(name, { schema, rules, preventSchemaOverride, updateIfExists } = {}) {
    const body = { name };
    if (schema !== undefined) body.schema = schema;
    if (rules !== undefined) body.rules = rules;
    if (preventSchemaOverride !== undefined) body.prevent_schema_override = preventSchemaOverride;
    if (updateIfExists !== undefined) body.update_if_exists = updateIfExists;
    return this._c.request('POST', `${D}/collections`, { body });
  }

  getCollection(name) { return this._c.request('GET', `${D}/collections/${enc(name)}`); }

  /** PATCH /collections/{c} {schema, prevent_schema_override?} */
  updateCollection(name, { schema, preventSchemaOverride } = {}) {
    const body = {};
    if (schema !== undefined) body.schema = schema;
    if (preventSchemaOverride !== undefined) body.prevent_schema_override = preventSchemaOverride;
    return this._c.request('PATCH', `${D}/collections/${enc(name)}`, { body });
  }

  async deleteCollection(name) { await this._c.request('DELETE', `${D}/collections/${enc(name)}`); }

  /** PATCH /collections/{c}/rules {rules} (null removes them). */
  setRules(name, rules) { return this._c.request('PATCH', `${D}/collections/${enc(name)}/rules`, { body: { rules } }); }

  async listIndexes(name) { return (await this._c.request('GET', `${D}/collections/${enc(name)}/indexes`)).indexes; }

  /** POST /collections/{c}/indexes {name, fields: ["a", "-b"], unique?} */
  createIndex(name, spec) { return this._c.request('POST', `${D}/collections/${enc(name)}/indexes`, { body: spec }); }

  async deleteIndex(name, indexName) { await this._c.request('DELETE', `${D}/collections/${enc(name)}/indexes/${enc(indexName)}`); }

  /** A collection's documents, queries and subscription. pathForm: 'documents' | 'collections'. */
  collection(name, { pathForm } = {}) {
    if (typeof name !== 'string' || !name) throw new TypeError('collection(name): a collection name');
    return new CollectionRef(this._c, name, pathForm || this._form);
  }

  /** A batch: writes applied in one transaction by commit() (all or none). */
  batch() { return new WriteBatch(this._c); }
}

export class WriteBatch {
  constructor(client) { this._c = client; this._writes = []; }
  create(collection, doc) { this._writes.push({ op: 'create', collection, doc }); return this; }
  replace(collection, id, doc) { this._writes.push({ op: 'replace', collection, id, doc }); return this; }
  update(collection, id, patch) { this._writes.push({ op: 'patch', collection, id, patch }); return this; }
  delete(collection, id) { this._writes.push({ op: 'delete', collection, id }); return this; }
  get size() { return this._writes.length; }
  toJSON() { return { writes: this._writes.slice() }; }
  /** POST /batch → [{status, doc}] per write, in order; a failure throws (details.index says which). */
  async commit() { return (await this._c.request('POST', `${D}/batch`, { body: this.toJSON() })).results; }
}

/** An immutable query: every builder method returns a new Query. */
export class Query {
  constructor(client, collection, state = {}) {
    this._c = client;
    this.collection = collection;
    this._s = { conds: [], raw: [], sort: [], limit: undefined, skip: undefined, cursor: undefined, fields: undefined, count: false, ...state };
  }

  _with(patch) { return new Query(this._c, this.collection, { ...this._s, ...patch }); }

  /** where(field, op, value): op is ==, !=, <, <=, >, >=, in, not-in, exists, regex, or a $operator; where(field, value) means ==. */
  where(field, op, value) {
    if (arguments.length === 2) { value = op; op = '=='; }
    if (typeof field !== 'string' || !field) throw new TypeError('where: a field path ("a" or "a.b")');
    const dop = DOLLAR_OPS.has(op) ? op : OPS[op];
    if (!dop) throw new TypeError(`where: unknown operator ${JSON.stringify(op)}`);
    if ((dop === '$in' || dop === '$nin') && !Array.isArray(value)) throw new TypeError(`where: ${op} takes an array`);
    return this._with({ conds: [...this._s.conds, [field, dop, value]] });
  }

  eq(f, v) { return this.where(f, '$eq', v); }
  ne(f, v) { return this.where(f, '$ne', v); }
  gt(f, v) { return this.where(f, '$gt', v); }
  gte(f, v) { return this.where(f, '$gte', v); }
  lt(f, v) { return this.where(f, '$lt', v); }
  lte(f, v) { return this.where(f, '$lte', v); }
  in(f, values) { return this.where(f, '$in', values); }
  nin(f, values) { return this.where(f, '$nin', values); }
  exists(f, yes = true) { return this.where(f, '$exists', yes); }
  /** regex(field, pattern, options?) — PCRE2; options as in the query language ("i", "m", …). */
  regex(f, pattern, options) {
    const q = this.where(f, '$regex', pattern);
    return options ? q._with({ conds: [...q._s.conds.slice(0, -1), [f, '$regex', pattern, options]] }) : q;
  }
  /** A filter in the query language itself (ANDed with the rest), e.g. {$or: [{a: 1}, {b: 2}]}. */
  filter(obj) {
    if (!obj || typeof obj !== 'object' || Array.isArray(obj)) throw new TypeError('filter: an object in the query language');
    return this._with({ raw: [...this._s.raw, obj] });
  }
  /** Matches when any of the given queries' (or filter objects') filters does. */
  or(...alternatives) {
    const fs = alternatives.map((a) => (a instanceof Query ? a.toFilter() : a));
    return this.filter({ $or: fs });
  }
  orderBy(field, direction = 'asc') {
    if (direction !== 'asc' && direction !== 'desc') throw new TypeError("orderBy: direction 'asc' or 'desc'");
    return this._with({ sort: [...this._s.sort, direction === 'desc' ? `-${field}` : field] });
  }
  limit(n) { return this._with({ limit: n }); }
  skip(n) { return this._with({ skip: n }); }
  /** Only these fields (and _id) in the documents returned. */
  select(...fields) { return this._with({ fields: fields.flat() }); }
  /** Continues after a page: the `cursor` a previous get() returned. */
  startAfter(cursor) { return this._with({ cursor: cursor ?? undefined }); }
  /** Also return the number of matching documents (count in the answer). */
  withCount(yes = true) { return this._with({ count: yes }); }

  /** The filter in the query language. */
  toFilter() {
    const f = {};
    const and = [];
    for (const [field, op, value, options] of this._s.conds) {
      const cur = f[field];
      if (cur === undefined) f[field] = { [op]: value };
      else if (op in cur) { and.push({ [field]: { [op]: value } }); continue; }
      else cur[op] = value;
      if (options !== undefined) f[field].$options = options;
    }
    and.push(...this._s.raw);
    if (!and.length) return f;
    return Object.keys(f).length ? { $and: [f, ...and] } : and.length === 1 ? and[0] : { $and: and };
  }

  /** The body of POST /v1/database/documents/query. */
  toJSON() {
    const s = this._s;
    const b = { collection: this.collection, filter: this.toFilter() };
    if (s.sort.length) b.sort = s.sort;
    if (s.limit !== undefined) b.limit = s.limit;
    if (s.skip !== undefined) b.skip = s.skip;
    if (s.cursor !== undefined) b.cursor = s.cursor;
    if (s.fields !== undefined) b.fields = s.fields;
    if (s.count) b.count = true;
    return b;
  }

  /** Runs the query → {documents, cursor (null at the end), count?}. */
  get() { return this._c.request('POST', `${D}/documents/query`, { body: this.toJSON() }); }

  /** The planner's explanation (index used, documents examined …) with the page. */
  async explain() { return (await this._c.request('POST', `${D}/documents/query`, { body: { ...this.toJSON(), explain: true } })).explain; }

  /** Every page until the end: for await (const docs of q.pages()) … */
  async *pages() {
    let q = this;
    for (;;) {
      const r = await q.get();
      yield r.documents;
      if (!r.cursor || !r.documents.length) return;
      q = q.startAfter(r.cursor);
    }
  }

  /** Realtime changes of the documents matching this query's filter (see CollectionRef.subscribe). */
  subscribe(handler, opts) {
    return new Subscription(this._c, { method: 'POST', path: `${D}/documents/query/subscribe`, body: { collection: this.collection, filter: this.toFilter() } }, handler, opts);
  }
}

export class CollectionRef extends Query {
  constructor(client, name, form) {
    super(client, name);
    this.name = name;
    this._form = form;
  }

  _path(id) {
    const base = this._form === 'collections' ? `${D}/collections/${enc(this.name)}/documents` : `${D}/documents/${enc(this.name)}`;
    return id === undefined ? base : `${base}/${enc(id)}`;
  }

  /** A query over the whole collection (then where/orderBy/limit …). */
  query() { return new Query(this._c, this.name); }

  /** GET a document by id → the document, or null when it does not exist. */
  get(id) {
    if (id === undefined) return super.get();
    return this._c.request('GET', this._path(id), { notFoundNull: true });
  }

  /** GET the documents → {documents, cursor}: {limit, skip, cursor, fields, prefix}. */
  list({ limit, skip, cursor, fields, prefix } = {}) {
    return this._c.request('GET', this._path(), { query: { limit, skip, cursor, prefix, fields: Array.isArray(fields) ? fields.join(',') : fields } });
  }

  /** POST a new document (with _id, or one is generated) → the stored document. */
  create(doc) { return this._c.request('POST', this._path(), { body: doc }); }
  /** PUT: replaces the whole document → the stored document. */
  replace(id, doc) { return this._c.request('PUT', this._path(id), { body: doc }); }
  /** PATCH: merges (dot paths, $unset) → the merged document. */
  update(id, patch) { return this._c.request('PATCH', this._path(id), { body: patch }); }
  /** DELETE → true, or false when it did not exist. */
  async delete(id) {
    const r = await this._c.request('DELETE', this._path(id), { notFoundNull: true, responseType: 'text' });
    return r !== null;
  }

  /**
   * Realtime: subscribe(handler) for the whole collection, subscribe(query, handler) for the
   * documents matching a query (a Query or a filter object). Returns a Subscription
   * ({unsubscribe(), ready, lastEventId}). Reconnects by itself and resumes with Last-Event-ID.
   */
  subscribe(query, handler, opts) {
    if (typeof query === 'function') { opts = handler; handler = query; query = undefined; }
    if (typeof handler !== 'function') throw new TypeError('subscribe: a handler function');
    if (query === undefined || query === null) {
      return new Subscription(this._c, { method: 'GET', path: `${D}/collections/${enc(this.name)}/subscribe` }, handler, opts);
    }
    const filter = query instanceof Query ? query.toFilter() : query;
    return new Subscription(this._c, { method: 'POST', path: `${D}/documents/query/subscribe`, body: { collection: this.name, filter } }, handler, opts);
  }
}
