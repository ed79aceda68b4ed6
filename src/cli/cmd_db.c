/* cmd_db.c — documents: collections, CRUD, query, NDJSON import/export, indexes, rules. Every
 * request goes to the console form of the gateway's routes, /v1/projects/{projectId}/database/…
 * (docs/gateway.md), where the developer's role decides. */
#include "cli.h"

#include "bb_err.h"
#include "bb_time.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define IMPORT_MAX_LINE (4u * 1024u * 1024u)
#define IMPORT_BATCH_BYTES (512u * 1024u) /* under the default 1 MiB HTTP body limit */
#define BATCH_MAX 1000
#define PROGRESS_MS 2000 /* default of BUNBASE_CLI_PROGRESS_MS */

/* "/v1/projects/<pid>/database" + the formatted rest, each %s argument already encoded. */
static int db_path(struct cli *c, char *buf, size_t cap, const char *rest)
{
    char pid[256];
    const char *p = cli_project(c);
    if (!p || cli_pct_encode(p, strlen(p), pid, sizeof pid))
        return cli_usage_error(c, "invalid project id");
    if ((size_t)snprintf(buf, cap, "/v1/projects/%s/database%s", pid, rest) >= cap)
        return cli_usage_error(c, "argument too long");
    return 0;
}

/* Encodes a path segment (collection, id, index name); 0 or a usage error. */
static int seg(struct cli *c, const char *s, char *out, size_t cap)
{
    if (!*s || cli_pct_encode(s, strlen(s), out, cap))
        return cli_usage_error(c, "invalid name '%.64s'", s);
    return 0;
}

/* Parses a JSON argument or body; 0 or a usage error naming what. */
static int parse_json(struct cli *c, const char *what, const char *text, size_t len, json_t **out)
{
    char err[160];
    if (bb_json_parse(text, len, BB_JSON_DEFAULT_DEPTH, out, err, sizeof err))
        return cli_fail(c, CLI_EUSAGE, "bad_input", "%s: invalid JSON: %s", what, err);
    return 0;
}

int cmd_db_coll_list(struct cli *c)
{
    char path[512];
    json_t *ans = NULL;
    int rc = db_path(c, path, sizeof path, "/collections");
    if (rc || (rc = cli_call(c, "GET", path, NULL, &ans))) return rc;
    if (c->json) {
        cli_print_json(ans);
    } else {
        json_t *names = json_object_get(ans, "collections");
        for (size_t i = 0; i < json_array_size(names); i++)
            printf("%s\n", json_string_value(json_array_get(names, i)));
    }
    json_decref(ans);
    return CLI_OK;
}

int cmd_db_coll_create(struct cli *c)
{
    char path[512];
    int rc = db_path(c, path, sizeof path, "/collections");
    if (rc) return rc;
    json_t *body = json_pack("{s:s}", "name", c->argv[0]);
    static const char *const opts[] = {"rules", "schema"};
    for (size_t i = 0; i < 2; i++) {
        const char *v = cli_opt(c, opts[i]);
        json_t *j = NULL;
        if (!v) continue;
        if ((rc = parse_json(c, opts[i], v, strlen(v), &j))) {
            json_decref(body);
            return rc;
        }
        json_object_set_new(body, opts[i], j);
    }
    json_t *ans = NULL;
    rc = cli_call(c, "POST", path, body, &ans);
    json_decref(body);
    if (rc) return rc;
    if (c->json) cli_print_json(ans);
    else printf("Created collection %s.\n", c->argv[0]);
    json_decref(ans);
    return CLI_OK;
}

int cmd_db_coll_delete(struct cli *c)
{
    char path[1024], name[400], rest[420];
    json_t *ans = NULL;
    int rc = seg(c, c->argv[0], name, sizeof name);
    if (rc) return rc;
    snprintf(rest, sizeof rest, "/collections/%s", name);
    if ((rc = db_path(c, path, sizeof path, rest)) || (rc = cli_call(c, "DELETE", path, NULL, &ans)))
        return rc;
    json_decref(ans);
    cli_print_ok(c, json_pack("{s:s}", "deleted", c->argv[0]), "Deleted collection %s.",
                 c->argv[0]);
    return CLI_OK;
}

/* …/collections/<c>/documents[/<id>] */
static int doc_path(struct cli *c, const char *coll, const char *id, char *path, size_t cap)
{
    char ec[400], eid[1600], rest[2100];
    int rc = seg(c, coll, ec, sizeof ec);
    if (rc || (id && (rc = seg(c, id, eid, sizeof eid)))) return rc;
    snprintf(rest, sizeof rest, "/collections/%s/documents%s%s", ec, id ? "/" : "", id ? eid : "");
    return db_path(c, path, cap, rest);
}

int cmd_db_get(struct cli *c)
{
    char path[2400];
    json_t *doc = NULL;
    int rc = doc_path(c, c->argv[0], c->argv[1], path, sizeof path);
    if (rc || (rc = cli_call(c, "GET", path, NULL, &doc))) return rc;
    cli_print_pretty(c, doc);
    json_decref(doc);
    return CLI_OK;
}

/* The body of put/patch as a JSON object. */
static int body_object(struct cli *c, json_t **out)
{
    char *text = NULL;
    size_t len = 0;
    int rc = cli_body(c, &text, &len);
    if (rc) return rc;
    rc = parse_json(c, "body", text, len, out);
    free(text);
    if (rc) return rc;
    if (!json_is_object(*out)) {
        json_decref(*out);
        *out = NULL;
        return cli_fail(c, CLI_EUSAGE, "bad_input", "the body must be a JSON object");
    }
    return 0;
}

int cmd_db_put(struct cli *c)
{
    char path[2400];
    json_t *doc = NULL, *ans = NULL;
    int rc = doc_path(c, c->argv[0], c->argv[1], path, sizeof path);
    if (rc || (rc = body_object(c, &doc))) return rc;
    const char *given = bb_json_str(doc, "_id", NULL);
    if (given && strcmp(given, c->argv[1])) {
        json_decref(doc);
        return cli_usage_error(c, "the body's _id '%s' is not the id argument '%s'", given,
                               c->argv[1]);
    }
    json_object_set_new(doc, "_id", json_string(c->argv[1]));
    /* replace; a missing document is created (PUT of a missing one is 404) */
    char *text = json_dumps(doc, JSON_COMPACT);
    struct bb_httpc_response resp;
    rc = text ? cli_request(c, "PUT", path, "application/json", text, strlen(text), 0, &resp)
              : CLI_ESERVER;
    free(text);
    if (rc) {
        json_decref(doc);
        return rc;
    }
    long st = resp.status;
    if (st == 404) {
        /* the collection or the document is missing: create (the collection comes with it) */
        bb_httpc_response_release(&resp);
        rc = doc_path(c, c->argv[0], NULL, path, sizeof path);
        if (!rc) rc = cli_call(c, "POST", path, doc, &ans);
    } else if (st >= 200 && st < 300) {
        if (bb_json_parse(resp.body, resp.body_len, BB_JSON_DEPTH_CEILING, &ans, NULL, 0))
            rc = cli_fail(c, CLI_ESERVER, "bad_answer", "unexpected answer");
        bb_httpc_response_release(&resp);
    } else {
        rc = cli_fail_response(c, &resp);
        bb_httpc_response_release(&resp);
    }
    json_decref(doc);
    if (!rc) cli_print_pretty(c, ans);
    json_decref(ans);
    return rc;
}

int cmd_db_patch(struct cli *c)
{
    char path[2400];
    json_t *patch = NULL, *ans = NULL;
    int rc = doc_path(c, c->argv[0], c->argv[1], path, sizeof path);
    if (rc || (rc = body_object(c, &patch))) return rc;
    rc = cli_call(c, "PATCH", path, patch, &ans);
    json_decref(patch);
    if (!rc) cli_print_pretty(c, ans);
    json_decref(ans);
    return rc;
}

int cmd_db_delete(struct cli *c)
{
    char path[2400];
    json_t *ans = NULL;
    int rc = doc_path(c, c->argv[0], c->argv[1], path, sizeof path);
    if (rc || (rc = cli_call(c, "DELETE", path, NULL, &ans))) return rc;
    json_decref(ans);
    cli_print_ok(c, json_pack("{s:s,s:s}", "collection", c->argv[0], "id", c->argv[1]),
                 "Deleted %s/%s.", c->argv[0], c->argv[1]);
    return CLI_OK;
}

/* A table of documents: _id first, then the top-level fields seen (at most 8 columns). */
static void print_docs_table(const json_t *docs)
{
    const char *keys[8];
    size_t n = 0;
    keys[n++] = "_id";
    for (size_t i = 0; i < json_array_size(docs) && n < 8; i++) {
        const char *k;
        json_t *v;
        json_object_foreach(json_array_get(docs, i), k, v) {
            size_t j = 0;
            while (j < n && strcmp(keys[j], k)) j++;
            if (j == n && n < 8) keys[n++] = k;
        }
    }
    cli_print_table(docs, keys, keys, n);
}

int cmd_db_query(struct cli *c)
{
    char path[512];
    int rc = db_path(c, path, sizeof path, "/documents/query");
    if (rc) return rc;
    json_t *body = json_pack("{s:s}", "collection", c->argv[0]);
    if (c->argc > 1) {
        json_t *f = NULL;
        if ((rc = parse_json(c, "filter", c->argv[1], strlen(c->argv[1]), &f))) goto out;
        if (!json_is_object(f)) {
            json_decref(f);
            rc = cli_usage_error(c, "the filter is a JSON object, e.g. '{\"n\":{\"$gte\":2}}'");
            goto out;
        }
        json_object_set_new(body, "filter", f);
    }
    const char *v;
    if ((v = cli_opt(c, "limit"))) {
        char *end;
        long l = strtol(v, &end, 10);
        if (*end || l < 1 || l > 1000000) {
            rc = cli_usage_error(c, "--limit: a positive integer");
            goto out;
        }
        json_object_set_new(body, "limit", json_integer(l));
    }
    if ((v = cli_opt(c, "sort"))) {
        int desc = v[0] == '-';
        json_object_set_new(body, "sortField", json_string(v + desc));
        json_object_set_new(body, "sortDesc", json_boolean(desc));
    }
    if ((v = cli_opt(c, "fields"))) {
        json_t *a = json_array();
        for (const char *p = v; *p;) {
            size_t l = strcspn(p, ",");
            if (l) json_array_append_new(a, json_stringn(p, l));
            p += l;
            if (*p) p++;
        }
        json_object_set_new(body, "fields", a);
    }
    if ((v = cli_opt(c, "cursor"))) json_object_set_new(body, "cursor", json_string(v));
    if (cli_opt(c, "explain")) json_object_set_new(body, "explain", json_true());
    if (cli_opt(c, "count")) json_object_set_new(body, "count", json_true());
    json_t *ans = NULL;
    if ((rc = cli_call(c, "POST", path, body, &ans))) goto out;
    if (c->json) {
        cli_print_json(ans);
    } else {
        print_docs_table(json_object_get(ans, "documents"));
        json_t *cnt = json_object_get(ans, "count");
        if (cnt) printf("count: %" JSON_INTEGER_FORMAT "\n", json_integer_value(cnt));
        json_t *ex = json_object_get(ans, "explain");
        if (ex) {
            char *s = json_dumps(ex, JSON_INDENT(2));
            if (s) printf("explain:\n%s\n", s);
            free(s);
        }
        const char *cur = bb_json_str(ans, "cursor", NULL);
        if (cur) fprintf(stderr, "more: --cursor %s\n", cur);
    }
    json_decref(ans);
out:
    json_decref(body);
    return rc;
}

/* ---- export / import */

static long count_opt(struct cli *c, const char *name, long dflt, long max)
{
    const char *v = cli_opt(c, name);
    if (!v) return dflt;
    char *end;
    long l = strtol(v, &end, 10);
    return (*end || l < 0 || l > max) ? -1 : l;
}

int cmd_db_export(struct cli *c)
{
    long batch = count_opt(c, "batch", 500, 10000);
    if (batch < 1) return cli_usage_error(c, "--batch: 1 to 10000");
    char base[1024], ec[400], rest[460];
    int rc = seg(c, c->argv[0], ec, sizeof ec);
    if (rc) return rc;
    snprintf(rest, sizeof rest, "/collections/%s/documents?limit=%ld", ec, batch);
    if ((rc = db_path(c, base, sizeof base, rest))) return rc;
    char cursor[2048] = "";
    if (cli_opt(c, "cursor")) snprintf(cursor, sizeof cursor, "%s", cli_opt(c, "cursor"));
    uint64_t t0 = bb_time_mono_ms(), last = t0;
    const uint64_t every = (uint64_t)cli_env_long("BUNBASE_CLI_PROGRESS_MS", PROGRESS_MS, 0, 3600000L);
    long long n = 0;
    for (;;) {
        char path[1024 + 2048 * 3 + 16], ecur[2048 * 3 + 1];
        if (cli_pct_encode(cursor, strlen(cursor), ecur, sizeof ecur))
            return cli_usage_error(c, "--cursor too long");
        snprintf(path, sizeof path, "%s%s%s", base, cursor[0] ? "&cursor=" : "", ecur);
        json_t *page = NULL;
        if ((rc = cli_call(c, "GET", path, NULL, &page))) break;
        json_t *docs = json_object_get(page, "documents");
        for (size_t i = 0; i < json_array_size(docs); i++) {
            char *s = json_dumps(json_array_get(docs, i), JSON_COMPACT);
            if (!s || fputs(s, stdout) < 0 || fputc('\n', stdout) < 0) {
                free(s);
                json_decref(page);
                return cli_fail(c, CLI_EUSAGE, "write_failed", "writing the export: %s",
                                strerror(errno));
            }
            free(s);
            n++;
        }
        const char *next = bb_json_str(page, "cursor", NULL);
        int more = next && *next && json_array_size(docs) > 0;
        if (more) snprintf(cursor, sizeof cursor, "%s", next);
        json_decref(page);
        uint64_t now = bb_time_mono_ms();
        if (more && now - last >= every) {
            fflush(stdout);
            fprintf(stderr, "exported %lld documents (resume with --cursor %s)\n", n, cursor);
            last = now;
        }
        if (!more) break;
    }
    fflush(stdout);
    if (rc) {
        fprintf(stderr, "export stopped after %lld documents%s%s\n", n,
                cursor[0] ? "; resume with --cursor " : "", cursor);
        return rc;
    }
    if (bb_time_mono_ms() - t0 >= every) fprintf(stderr, "exported %lld documents\n", n);
    return CLI_OK;
}

/* --upsert: the writes whose _id already exists become replaces (one query for the batch). */
static int upsert_ops(struct cli *c, json_t *writes)
{
    json_t *ids = json_array();
    for (size_t i = 0; i < json_array_size(writes); i++) {
        json_t *w = json_array_get(writes, i);
        json_t *id = json_object_get(json_object_get(w, "doc"), "_id");
        if (json_is_string(id)) json_array_append(ids, id);
    }
    if (json_array_size(ids) == 0) {
        json_decref(ids);
        return 0;
    }
    const char *coll = bb_json_str(json_array_get(writes, 0), "collection", "");
    size_t n = json_array_size(ids);
    json_t *q = json_pack("{s:s,s:{s:{s:o}},s:[s],s:I}", "collection", coll, "filter", "_id",
                          "$in", ids, "fields", "_id", "limit", (json_int_t)n);
    char path[512];
    json_t *ans = NULL;
    int rc = db_path(c, path, sizeof path, "/documents/query");
    if (!rc) rc = cli_call(c, "POST", path, q, &ans);
    json_decref(q);
    if (rc) return rc;
    json_t *found = json_object();
    json_t *docs = json_object_get(ans, "documents");
    for (size_t i = 0; i < json_array_size(docs); i++) {
        const char *id = bb_json_str(json_array_get(docs, i), "_id", NULL);
        if (id) json_object_set_new(found, id, json_true());
    }
    json_decref(ans);
    for (size_t i = 0; i < json_array_size(writes); i++) {
        json_t *w = json_array_get(writes, i);
        const char *id = bb_json_str(json_object_get(w, "doc"), "_id", NULL);
        int exists = id && json_object_get(found, id);
        json_object_set_new(w, "op", json_string(exists ? "replace" : "create"));
        if (exists) json_object_set_new(w, "id", json_string(id));
        else json_object_del(w, "id");
    }
    json_decref(found);
    return 0;
}

/* Sends one batch of writes; on failure prints which line failed. With upsert, existing ids are
 * replaced; a batch that lost a race (created or deleted meanwhile: 409/404) is retried. */
static int import_flush(struct cli *c, const char *path, json_t *writes, long long first_line,
                        const long long *lines, int upsert)
{
    for (int attempt = 0; upsert; attempt++) {
        int rc = upsert_ops(c, writes);
        if (rc) return rc;
        json_t *body = json_pack("{s:O}", "writes", writes);
        char *text = json_dumps(body, JSON_COMPACT);
        json_decref(body);
        if (!text) return cli_fail(c, CLI_ESERVER, "nomem", "out of memory");
        struct bb_httpc_response resp;
        rc = cli_request(c, "POST", path, "application/json", text, strlen(text), 0, &resp);
        free(text);
        if (rc) return rc;
        long st = resp.status;
        bb_httpc_response_release(&resp);
        if (st == 200) return 0;
        if ((st != 409 && st != 404) || attempt >= 2) break; /* report it below */
    }
    json_t *body = json_pack("{s:O}", "writes", writes);
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (!text) return cli_fail(c, CLI_ESERVER, "nomem", "out of memory");
    struct bb_httpc_response resp;
    int rc = cli_request(c, "POST", path, "application/json", text, strlen(text), 0, &resp);
    free(text);
    if (rc) return rc;
    if (resp.status != 200) {
        json_t *j = NULL;
        long long at = first_line;
        if (bb_json_parse(resp.body, resp.body_len, 64, &j, NULL, 0) == 0 &&
            json_is_integer(json_object_get(j, "index"))) {
            json_int_t idx = json_integer_value(json_object_get(j, "index"));
            if (idx >= 0 && (size_t)idx < json_array_size(writes)) at = lines[idx];
        }
        json_decref(j);
        fprintf(stderr, "line %lld: ", at);
        rc = cli_fail_response(c, &resp);
    }
    bb_httpc_response_release(&resp);
    return rc;
}

int cmd_db_import(struct cli *c)
{
    long batch = count_opt(c, "batch", 500, BATCH_MAX);
    long skip = count_opt(c, "skip", 0, 2000000000L);
    if (batch < 1) return cli_usage_error(c, "--batch: 1 to %d", BATCH_MAX);
    if (skip < 0) return cli_usage_error(c, "--skip: a line count");
    int upsert = cli_opt(c, "upsert") != NULL;
    char path[512];
    int rc = db_path(c, path, sizeof path, "/batch");
    if (rc) return rc;
    const char *file = c->argv[1];
    FILE *in = strcmp(file, "-") ? fopen(file, "r") : stdin;
    if (!in)
        return cli_fail(c, errno == ENOENT ? CLI_ENOTFOUND : CLI_EUSAGE, "bad_input", "%s: %s",
                        file, strerror(errno));
    json_t *writes = json_array();
    long long *lines = calloc((size_t)batch, sizeof *lines);
    char *line = NULL;
    size_t cap = 0, bytes = 0;
    long long lineno = 0, done = 0, batch_first = 0;
    uint64_t last = bb_time_mono_ms();
    const uint64_t every = (uint64_t)cli_env_long("BUNBASE_CLI_PROGRESS_MS", PROGRESS_MS, 0, 3600000L);
    ssize_t len;
    if (!lines) rc = cli_fail(c, CLI_ESERVER, "nomem", "out of memory");
    while (!rc && (len = getline(&line, &cap, in)) >= 0) {
        lineno++;
        if (lineno <= skip) continue;
        if ((size_t)len > IMPORT_MAX_LINE) {
            rc = cli_fail(c, CLI_EUSAGE, "bad_input", "line %lld: longer than %u bytes", lineno,
                          IMPORT_MAX_LINE);
            break;
        }
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = 0;
        if (len == 0) continue;
        json_t *doc = NULL;
        char err[160];
        if (bb_json_parse(line, (size_t)len, BB_JSON_DEFAULT_DEPTH, &doc, err, sizeof err) ||
            !json_is_object(doc)) {
            json_decref(doc);
            rc = cli_fail(c, CLI_EUSAGE, "bad_input", "line %lld: not a JSON object%s%s", lineno,
                          doc ? "" : ": ", doc ? "" : err);
            break;
        }
        if (json_array_size(writes) == 0) batch_first = lineno;
        lines[json_array_size(writes)] = lineno;
        json_array_append_new(writes, json_pack("{s:s,s:s,s:o}", "op", "create", "collection",
                                                c->argv[0], "doc", doc));
        bytes += (size_t)len + 64;
        if (json_array_size(writes) >= (size_t)batch || bytes >= IMPORT_BATCH_BYTES) {
            if ((rc = import_flush(c, path, writes, batch_first, lines, upsert))) break;
            done += (long long)json_array_size(writes);
            json_array_clear(writes);
            bytes = 0;
            uint64_t now = bb_time_mono_ms();
            if (now - last >= every) {
                fprintf(stderr, "imported %lld documents (through line %lld)\n", done, lineno);
                last = now;
            }
        }
    }
    if (!rc && ferror(in)) rc = cli_fail(c, CLI_EUSAGE, "bad_input", "%s: read error", file);
    if (!rc && json_array_size(writes) > 0) {
        if (!(rc = import_flush(c, path, writes, batch_first, lines, upsert)))
            done += (long long)json_array_size(writes);
    }
    if (rc && batch_first > 0)
        fprintf(stderr,
                "import stopped: %lld documents imported; lines before %lld are in, resume with "
                "--skip %lld\n",
                done, batch_first, batch_first - 1);
    free(line);
    free(lines);
    json_decref(writes);
    if (in != stdin) fclose(in);
    if (rc) return rc;
    cli_print_ok(c, json_pack("{s:s,s:I,s:I,s:b}", "collection", c->argv[0], "imported",
                              (json_int_t)done, "skipped", (json_int_t)(skip < lineno ? skip : lineno),
                              "upsert", upsert),
                 "Imported %lld documents into %s.", done, c->argv[0]);
    return CLI_OK;
}

/* ---- indexes, rules */

static int coll_path(struct cli *c, const char *tail, char *path, size_t cap)
{
    char ec[400], rest[1400];
    int rc = seg(c, c->argv[0], ec, sizeof ec);
    if (rc) return rc;
    snprintf(rest, sizeof rest, "/collections/%s%s", ec, tail);
    return db_path(c, path, cap, rest);
}

int cmd_db_idx_list(struct cli *c)
{
    char path[2048];
    json_t *ans = NULL;
    int rc = coll_path(c, "/indexes", path, sizeof path);
    if (rc || (rc = cli_call(c, "GET", path, NULL, &ans))) return rc;
    if (c->json) {
        cli_print_json(ans);
    } else {
        static const char *const h[] = {"NAME", "FIELDS", "UNIQUE", "STATE"};
        static const char *const k[] = {"name", "fields", "unique", "state"};
        cli_print_table(json_object_get(ans, "indexes"), h, k, 4);
    }
    json_decref(ans);
    return CLI_OK;
}

int cmd_db_idx_create(struct cli *c)
{
    char path[2048];
    json_t *ans = NULL;
    int rc = coll_path(c, "/indexes", path, sizeof path);
    if (rc) return rc;
    json_t *fields = json_array();
    for (int i = 2; i < c->argc; i++)
        json_array_append_new(fields, json_string(c->argv[i]));
    json_t *body = json_pack("{s:s,s:o,s:b}", "name", c->argv[1], "fields", fields, "unique",
                             cli_opt(c, "unique") != NULL);
    rc = cli_call(c, "POST", path, body, &ans);
    json_decref(body);
    if (rc) return rc;
    if (c->json) cli_print_json(ans);
    else printf("Created index %s on %s.\n", c->argv[1], c->argv[0]);
    json_decref(ans);
    return CLI_OK;
}

int cmd_db_idx_drop(struct cli *c)
{
    char path[2048], en[400], tail[420];
    json_t *ans = NULL;
    int rc = seg(c, c->argv[1], en, sizeof en);
    if (rc) return rc;
    snprintf(tail, sizeof tail, "/indexes/%s", en);
    if ((rc = coll_path(c, tail, path, sizeof path)) ||
        (rc = cli_call(c, "DELETE", path, NULL, &ans)))
        return rc;
    json_decref(ans);
    cli_print_ok(c, json_pack("{s:s,s:s}", "collection", c->argv[0], "dropped", c->argv[1]),
                 "Dropped index %s.", c->argv[1]);
    return CLI_OK;
}

int cmd_db_rules_get(struct cli *c)
{
    char path[2048];
    json_t *ans = NULL;
    int rc = coll_path(c, "", path, sizeof path);
    if (rc || (rc = cli_call(c, "GET", path, NULL, &ans))) return rc;
    json_t *rules = json_object_get(ans, "rules");
    if (c->json) {
        json_t *o = json_pack("{s:s,s:O}", "collection", c->argv[0], "rules",
                              rules ? rules : json_null());
        cli_print_json(o);
        json_decref(o);
    } else {
        cli_print_pretty(c, rules ? rules : json_null());
    }
    json_decref(ans);
    return CLI_OK;
}

int cmd_db_rules_set(struct cli *c)
{
    char path[2048];
    int rc = coll_path(c, "/rules", path, sizeof path);
    if (rc) return rc;
    json_t *rules = NULL;
    char *text = NULL;
    size_t len = 0;
    if (!(rc = cli_arg_or_body(c, 1, "rules", &text, &len)))
        rc = parse_json(c, "rules", text, len, &rules);
    free(text);
    if (rc) return rc;
    if (!json_is_object(rules) && !json_is_null(rules)) {
        json_decref(rules);
        return cli_usage_error(c, "rules are a JSON object (or null)");
    }
    json_t *body = json_pack("{s:o}", "rules", rules);
    json_t *ans = NULL;
    rc = cli_call(c, "PATCH", path, body, &ans);
    json_decref(body);
    if (rc) return rc;
    if (c->json) {
        json_t *o = json_pack("{s:s,s:O}", "collection", c->argv[0], "rules",
                              json_object_get(ans, "rules") ? json_object_get(ans, "rules")
                                                            : json_null());
        cli_print_json(o);
        json_decref(o);
    } else {
        printf("Rules of %s updated.\n", c->argv[0]);
    }
    json_decref(ans);
    return CLI_OK;
}
