/* cmd_meta.c — the command metadata Redis 7.0 reports (COMMAND INFO: flags, ACL categories,
 * tips, key specs, subcommands; COMMAND DOCS: summary, since, group, complexity, history,
 * arguments), and the key extraction of COMMAND GETKEYS / GETKEYSANDFLAGS driven by those key
 * specs as Redis does (getKeysFromCommandWithSpecs: the specs first, the command's own key
 * procedure when a spec is incomplete, has variable flags or does not match).
 *
 * The data is commands_meta.inc, generated from redis-server 7.0 by
 * scripts/gen-bunder-commands.mjs: per top-level command its COMMAND INFO and COMMAND DOCS
 * replies as RESP3 with "\n" line ends. This file walks that encoding and re-emits it through
 * the reply functions, so RESP2 clients get the flattened shapes Redis gives them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bndr.h"
#include "cmds.h"

static const struct meta_row {
    const char *name, *info, *docs;
} rows[] = {
#define BNDR_META(n, i, d) {n, i, d},
#include "commands_meta.inc"
#undef BNDR_META
};
#define NROWS (sizeof rows / sizeof rows[0])

/* ---- the stored encoding ------------------------------------------------------------------ */

/* The number after the type byte. */
static long long hdr(const char *p)
{
    return strtoll(p + 1, NULL, 10);
}

static const char *line_end(const char *p)
{
    return strchr(p, '\n') + 1;
}

/* The value after the one at p. */
static const char *skip(const char *p)
{
    long long n = hdr(p);
    const char *q = line_end(p);
    switch (*p) {
    case '$':
        return q + n + 1;
    case '*':
    case '~':
        while (n-- > 0)
            q = skip(q);
        return q;
    case '%':
        for (n *= 2; n > 0; n--)
            q = skip(q);
        return q;
    default:
        return q;
    }
}

/* The i-th element of an aggregate (a map counts keys and values), NULL past its end. */
static const char *child(const char *p, long long i)
{
    long long n = hdr(p) * (*p == '%' ? 2 : 1);
    if (i >= n) return NULL;
    const char *q = line_end(p);
    while (i-- > 0)
        q = skip(q);
    return q;
}

/* The text of a bulk or status value. */
static const char *text(const char *p, size_t *n)
{
    const char *q = line_end(p);
    *n = *p == '$' ? (size_t)hdr(p) : (size_t)(q - p - 2);
    return *p == '$' ? q : p + 1;
}

static int text_eq(const char *p, const char *s, size_t sn)
{
    size_t n;
    const char *t = text(p, &n);
    return n == sn && !strncasecmp(t, s, n);
}

/* The value of key k in the map at p (NULL when absent). */
static const char *map_get(const char *p, const char *k)
{
    if (!p || *p != '%') return NULL;
    long long n = hdr(p);
    const char *q = line_end(p);
    for (long long i = 0; i < n; i++) {
        const char *v = skip(q);
        if (text_eq(q, k, strlen(k))) return v;
        q = skip(v);
    }
    return NULL;
}

static long long map_ll(const char *p, const char *k)
{
    const char *v = map_get(p, k);
    return v && *v == ':' ? hdr(v) : 0;
}

/* Writes the value at p as a reply; returns the value after it. */
static const char *emit(struct bndr_client *c, const char *p)
{
    long long n = hdr(p);
    const char *q = line_end(p);
    switch (*p) {
    case '$':
        bndr_add_bulk(c, q, (size_t)n);
        return q + n + 1;
    case ':':
        bndr_add_ll(c, n);
        return q;
    case '+': {
        char buf[128];
        size_t l = (size_t)(q - p - 2) < sizeof buf - 1 ? (size_t)(q - p - 2) : sizeof buf - 1;
        memcpy(buf, p + 1, l);
        buf[l] = 0;
        bndr_add_status(c, buf);
        return q;
    }
    case '*':
    case '~':
    case '%':
        if (*p == '*')
            bndr_add_array(c, (long)n);
        else if (*p == '~')
            bndr_add_set(c, (long)n);
        else
            bndr_add_map(c, (long)n);
        for (n *= *p == '%' ? 2 : 1; n > 0; n--)
            q = emit(c, q);
        return q;
    default:
        return q;
    }
}

/* ---- lookup ------------------------------------------------------------------------------- */

static const struct meta_row *row_find(const char *name, size_t n)
{
    size_t lo = 0, hi = NROWS;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int r = strncasecmp(rows[mid].name, name, n);
        if (!r && rows[mid].name[n]) r = 1;
        if (!r) return &rows[mid];
        if (r < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* "name" or "container|sub" (case-insensitive) to bunder's command and the metadata row; *sub
 * set to the subcommand name part (NULL for a top-level command). NULL when bunder does not
 * answer it. */
static const struct bndr_cmd *resolve(const char *name, size_t n, const struct meta_row **row,
                                      const char **sub, size_t *subn)
{
    const char *bar = memchr(name, '|', n);
    size_t base = bar ? (size_t)(bar - name) : n;
    const struct bndr_cmd *cmd = bndr_cmd_lookup(name, base);
    *row = cmd ? row_find(name, base) : NULL;
    *sub = NULL;
    *subn = 0;
    if (!cmd || !*row) return NULL;
    if (!bar) return cmd;
    *sub = bar + 1;
    *subn = n - base - 1;
    if (!*subn || memchr(*sub, '|', *subn) || !cmd->subcmds) return NULL;
    for (const char *p = cmd->subcmds; *p;) { /* only the subcommands bunder implements */
        size_t l = strcspn(p, " ");
        if (l == *subn && !strncasecmp(p, *sub, l)) return cmd;
        p += l;
        while (*p == ' ')
            p++;
    }
    return NULL;
}

/* COMMAND INFO of "container|sub": its entry in the container's subcommand list. */
static const char *sub_info(const char *info, const char *full, size_t n)
{
    const char *subs = child(info, 9);
    for (long long i = 0; subs && i < hdr(subs); i++) {
        const char *e = child(subs, i);
        if (text_eq(child(e, 0), full, n)) return e;
    }
    return NULL;
}

static const char *sub_docs(const char *docs, const char *full, size_t n)
{
    const char *subs = map_get(docs, "subcommands");
    if (!subs) return NULL;
    long long m = hdr(subs);
    const char *q = line_end(subs);
    for (long long i = 0; i < m; i++) {
        const char *v = skip(q);
        if (text_eq(q, full, n)) return v;
        q = skip(v);
    }
    return NULL;
}

/* The COMMAND INFO entry of a command or "container|sub"; NULL if bunder does not have it. */
static const char *info_of(const char *name, size_t n)
{
    const struct meta_row *row;
    const char *sub;
    size_t subn;
    if (!resolve(name, n, &row, &sub, &subn)) return NULL;
    return sub ? sub_info(row->info, name, n) : row->info;
}

int bndr_meta_has(const char *name, size_t n)
{
    return info_of(name, n) != NULL;
}

int bndr_meta_info(struct bndr_client *c, const char *name, size_t n)
{
    const char *p = info_of(name, n);
    if (!p) return -1;
    emit(c, p);
    return 0;
}

/* 1 when the command or "container|sub" is in ACL category cat ("admin", no '@'), 0 when not,
 * -1 when bunder does not have it. */
int bndr_meta_in_cat(const char *name, size_t n, const char *cat)
{
    const char *p = info_of(name, n);
    if (!p) return -1;
    const char *set = child(p, 6);
    size_t cl = strlen(cat);
    for (long long i = 0; set && i < hdr(set); i++) {
        size_t tn;
        const char *t = text(child(set, i), &tn);
        if (tn == cl + 1 && t[0] == '@' && !strncasecmp(t + 1, cat, cl)) return 1;
    }
    return 0;
}

const char *bndr_meta_group(const char *name)
{
    static const char *const groups[] = {
        "bitmap",      "cluster",    "connection", "generic",   "geo",         "hash",
        "hyperloglog", "list",       "pubsub",     "scripting", "sentinel",    "server",
        "set",         "sorted-set", "stream",     "string",    "transactions"};
    const struct meta_row *row = row_find(name, strlen(name));
    const char *g = row ? map_get(row->docs, "group") : NULL;
    for (size_t i = 0; g && i < sizeof groups / sizeof groups[0]; i++)
        if (text_eq(g, groups[i], strlen(groups[i]))) return groups[i];
    return "generic";
}

/* Writes "fullname" then the docs map (COMMAND DOCS' pair); -1 when bunder lacks the command. */
int bndr_meta_docs(struct bndr_client *c, const char *name, size_t n)
{
    const struct meta_row *row;
    const char *sub;
    size_t subn;
    if (!resolve(name, n, &row, &sub, &subn)) return -1;
    const char *d = sub ? sub_docs(row->docs, name, n) : row->docs;
    if (!d) return -1;
    const char *info = sub ? sub_info(row->info, name, n) : row->info;
    size_t fl;
    const char *full = text(child(info, 0), &fl);
    bndr_add_bulk(c, full, fl);
    emit(c, d);
    return 0;
}

/* ---- key specs and COMMAND GETKEYS -------------------------------------------------------- */

/* Key spec flags in the order Redis prints them (addReplyFlagsForKeyArgs). */
static const char *const kflag_names[] = {
    "RO",     "RW",     "OW",      "RM",         "access",        "update",
    "insert", "delete", "not_key", "incomplete", "variable_flags"};
enum {
    KF_RO = 1 << 0,
    KF_RW = 1 << 1,
    KF_OW = 1 << 2,
    KF_RM = 1 << 3,
    KF_ACCESS = 1 << 4,
    KF_UPDATE = 1 << 5,
    KF_INSERT = 1 << 6,
    KF_DELETE = 1 << 7,
    KF_NOT_KEY = 1 << 8,
    KF_INCOMPLETE = 1 << 9,
    KF_VARIABLE = 1 << 10,
};
#define NKFLAGS (sizeof kflag_names / sizeof kflag_names[0])

static unsigned spec_flags(const char *spec)
{
    const char *set = map_get(spec, "flags");
    unsigned f = 0;
    for (long long i = 0; set && i < hdr(set); i++) {
        const char *e = child(set, i);
        for (size_t k = 0; k < NKFLAGS; k++)
            if (text_eq(e, kflag_names[k], strlen(kflag_names[k]))) f |= 1u << k;
    }
    return f;
}

static int info_has_flag(const char *info, const char *flag)
{
    const char *set = child(info, 2);
    for (long long i = 0; set && i < hdr(set); i++)
        if (text_eq(child(set, i), flag, strlen(flag))) return 1;
    return 0;
}

struct keyref {
    int pos;
    unsigned flags;
};

static int parse_int(const struct bndr_arg *a, long long *v)
{
    return bndr_parse_ll(a->p, a->n, v);
}

/* getKeysUsingKeySpecs: the keys the specs name; -1 when a spec is unknown, incomplete or does
 * not match the arguments (then the command's key procedure decides). */
static int keys_by_specs(const char *info, int arity, int argc, const struct bndr_arg *argv,
                         struct keyref *out, int cap)
{
    const char *specs = child(info, 8);
    int k = 0;
    for (long long j = 0; specs && j < hdr(specs); j++) {
        const char *spec = child(specs, j);
        unsigned fl = spec_flags(spec);
        if (fl & KF_NOT_KEY) continue;
        const char *bs = map_get(spec, "begin_search"), *fk = map_get(spec, "find_keys");
        const char *bst = map_get(bs, "type"), *fkt = map_get(fk, "type");
        const char *bss = map_get(bs, "spec"), *fks = map_get(fk, "spec");
        long long first = 0, last, step;
        if (bst && text_eq(bst, "index", 5)) {
            first = map_ll(bss, "index");
        } else if (bst && text_eq(bst, "keyword", 7)) {
            size_t kwn;
            const char *kwv = map_get(bss, "keyword");
            const char *kw = kwv ? text(kwv, &kwn) : "";
            if (!kwv) kwn = 0;
            long long from = map_ll(bss, "startfrom");
            long long start = from > 0 ? from : argc + from, end = from > 0 ? argc - 1 : 1;
            for (long long i = start; i != end; i = start <= end ? i + 1 : i - 1) {
                if (i >= argc || i < 1) break;
                if (argv[i].n == kwn && !strncasecmp(argv[i].p, kw, kwn)) {
                    first = i + 1;
                    break;
                }
            }
            if (!first) continue; /* keyword not found */
        } else {
            return -1; /* unknown begin_search */
        }
        if (fkt && text_eq(fkt, "range", 5)) {
            long long lastkey = map_ll(fks, "lastkey"), limit = map_ll(fks, "limit");
            step = map_ll(fks, "keystep");
            if (lastkey >= 0)
                last = first + lastkey;
            else if (!limit)
                last = argc + lastkey;
            else
                last = first + ((argc - first) / limit + lastkey);
        } else if (fkt && text_eq(fkt, "keynum", 6)) {
            long long idx = map_ll(fks, "keynumidx"), numkeys;
            step = map_ll(fks, "keystep");
            if (idx >= argc - first) return -1;
            if (parse_int(&argv[first + idx], &numkeys) < 0 || numkeys < 0) return -1;
            first += map_ll(fks, "firstkey");
            last = first + numkeys - 1;
        } else {
            return -1; /* unknown find_keys */
        }
        if (last >= argc || last < first || first >= argc) return -1;
        if (step < 1) step = 1;
        for (long long i = first; i <= last; i += step) {
            if (i >= argc) {
                if (arity < 0) continue;
                return -1;
            }
            if (k < cap) out[k++] = (struct keyref){(int)i, fl};
        }
        if (fl & KF_INCOMPLETE) return -1;
    }
    return k;
}

/* Redis 7.0's native key procedures (db.c), by command name, for the commands whose specs are
 * incomplete or have variable flags, or when the specs do not match the arguments. */
static int keys_by_proc(const char *name, int argc, const struct bndr_arg *argv, struct keyref *out,
                        int cap)
{
    static const struct {
        const char *name;
        int store, count, first; /* genericGetKeys(storeKeyOfs, keyCountOfs, firstKeyOfs, 1) */
    } generic[] = {
        {"sintercard", 0, 1, 2}, {"zunionstore", 1, 2, 3}, {"zinterstore", 1, 2, 3},
        {"zdiffstore", 1, 2, 3}, {"zunion", 0, 1, 2},      {"zinter", 0, 1, 2},
        {"zdiff", 0, 1, 2},      {"zintercard", 0, 1, 2},  {"eval", 0, 2, 3},
        {"evalsha", 0, 2, 3},    {"eval_ro", 0, 2, 3},     {"evalsha_ro", 0, 2, 3},
        {"fcall", 0, 2, 3},      {"fcall_ro", 0, 2, 3},    {"lmpop", 0, 1, 2},
        {"blmpop", 0, 2, 3},     {"zmpop", 0, 1, 2},       {"bzmpop", 0, 2, 3},
    };
    for (size_t g = 0; g < sizeof generic / sizeof generic[0]; g++) {
        if (strcmp(name, generic[g].name)) continue;
        if (generic[g].count >= argc) return 0;
        char buf[32]; /* Redis reads numkeys with atoi here */
        size_t l =
            argv[generic[g].count].n < sizeof buf - 1 ? argv[generic[g].count].n : sizeof buf - 1;
        memcpy(buf, argv[generic[g].count].p, l);
        buf[l] = 0;
        long num = atol(buf);
        if (num < 1 || num > argc - generic[g].first) return 0;
        int k = 0;
        for (long i = 0; i < num && k < cap; i++)
            out[k++] = (struct keyref){generic[g].first + (int)i, 0};
        if (generic[g].store && k < cap) out[k++] = (struct keyref){generic[g].store, 0};
        return k;
    }
    if (!strcmp(name, "sort_ro") && cap >= 1) {
        out[0] = (struct keyref){1, KF_RO | KF_ACCESS};
        return 1;
    }
    if (!strcmp(name, "sort") && cap >= 2) {
        int store = 0;
        out[0] = (struct keyref){1, KF_RO | KF_ACCESS};
        for (int i = 2; i < argc; i++) {
            if (bndr_argeq(&argv[i], "limit"))
                i += 2;
            else if (bndr_argeq(&argv[i], "store") && i + 1 < argc)
                out[1] = (struct keyref){i + 1, KF_OW | KF_UPDATE}, store = 1;
            else if (bndr_argeq(&argv[i], "get") || bndr_argeq(&argv[i], "by"))
                i += 1;
        }
        return 1 + store;
    }
    if (!strcmp(name, "migrate")) {
        int first = 3, num = 1;
        for (int i = 6; argc > 6 && i < argc; i++)
            if (bndr_argeq(&argv[i], "keys") && argv[3].n == 0) {
                first = i + 1;
                num = argc - first;
                break;
            }
        int k = 0;
        for (int i = 0; i < num && k < cap; i++)
            out[k++] = (struct keyref){first + i, KF_RW | KF_ACCESS | KF_DELETE};
        return k;
    }
    if ((!strcmp(name, "georadius") || !strcmp(name, "georadiusbymember")) && cap >= 2) {
        int stored = -1;
        for (int i = 5; i < argc; i++)
            if ((bndr_argeq(&argv[i], "store") || bndr_argeq(&argv[i], "storedist")) &&
                i + 1 < argc)
                stored = ++i;
        out[0] = (struct keyref){1, 0};
        if (stored < 0) return 1;
        out[1] = (struct keyref){stored, 0};
        return 2;
    }
    if (!strcmp(name, "xread") || !strcmp(name, "xreadgroup")) {
        int streams = -1;
        for (int i = 1; i < argc; i++) {
            if (bndr_argeq(&argv[i], "block") || bndr_argeq(&argv[i], "count"))
                i++;
            else if (bndr_argeq(&argv[i], "group"))
                i += 2;
            else if (bndr_argeq(&argv[i], "noack"))
                ;
            else if (bndr_argeq(&argv[i], "streams")) {
                streams = i;
                break;
            } else
                break;
        }
        int num = streams < 0 ? 0 : argc - streams - 1;
        if (streams < 0 || num == 0 || num % 2) return 0;
        int k = 0;
        for (int i = streams + 1; i < argc - num / 2 && k < cap; i++)
            out[k++] = (struct keyref){i, 0};
        return k;
    }
    if (!strcmp(name, "set") && cap >= 1) {
        out[0] = (struct keyref){1, KF_OW | KF_UPDATE};
        for (int i = 3; i < argc; i++)
            if (argv[i].n == 3 && !strncasecmp(argv[i].p, "get", 3)) {
                out[0].flags = KF_RW | KF_ACCESS | KF_UPDATE;
                break;
            }
        return 1;
    }
    if (!strcmp(name, "bitfield") && cap >= 1) {
        out[0] = (struct keyref){1, KF_RW | KF_ACCESS | KF_UPDATE};
        for (int i = 2; i < argc; i++)
            if (bndr_argeq(&argv[i], "get") && argc - i - 1 >= 2) {
                out[0].flags = KF_RO | KF_ACCESS;
                break;
            }
        return 1;
    }
    return -1; /* no procedure */
}

/* The metadata of the command argv names (lookupCommand: a container's subcommand is argv[1]);
 * NULL when bunder does not have it. */
static const char *info_for_argv(int argc, const struct bndr_arg *argv)
{
    const struct meta_row *row;
    const char *sub;
    size_t subn;
    const struct bndr_cmd *cmd = NULL;
    if (!memchr(argv[0].p, '|', argv[0].n)) cmd = resolve(argv[0].p, argv[0].n, &row, &sub, &subn);
    if (!cmd) return NULL;
    const char *subs = child(row->info, 9);
    if (argc < 2 || !subs || !hdr(subs)) return row->info;
    char full[128]; /* a container: the subcommand decides */
    int fl = snprintf(full, sizeof full, "%s|%.*s", cmd->name,
                      (int)(argv[1].n > 64 ? 64 : argv[1].n), argv[1].p);
    return argv[1].n <= 64 ? info_of(full, (size_t)fl) : NULL;
}

/* getKeysFromCommandWithSpecs for argv (argv[0] the command): the key specs, else the key
 * procedure. Returns the number of keys in keys (cap: argc * 4 + 4 entries), 0 for none, -1
 * when the command has no key arguments at all, -2 for an arity mismatch. */
static int extract_keys(const char *info, int argc, const struct bndr_arg *argv,
                        struct keyref *keys, int cap)
{
    size_t nn;
    const char *nm = text(child(info, 0), &nn);
    char name[64];
    snprintf(name, sizeof name, "%.*s", (int)(nn < 63 ? nn : 63), nm);
    int arity = (int)hdr(child(info, 1));
    int has_keyspec = 0, has_var = 0;
    const char *specs = child(info, 8);
    for (long long j = 0; specs && j < hdr(specs); j++) {
        unsigned f = spec_flags(child(specs, j));
        has_keyspec |= !(f & KF_NOT_KEY);
        has_var |= (f & KF_VARIABLE) != 0;
    }
    struct keyref probe[2];
    int has_proc = keys_by_proc(name, 1, argv, probe, 2) != -1; /* has a key procedure */
    if (!has_proc && !has_keyspec) return -1;
    if ((arity > 0 && arity != argc) || argc < -arity) return -2;
    int n = -1;
    if (has_keyspec && !has_var) n = keys_by_specs(info, arity, argc, argv, keys, cap);
    if (n < 0) n = has_proc ? keys_by_proc(name, argc, argv, keys, cap) : 0;
    return n < 0 ? 0 : n;
}

int bndr_meta_keys(int argc, const struct bndr_arg *argv, int **pos)
{
    *pos = NULL;
    const char *info = argc > 0 ? info_for_argv(argc, argv) : NULL;
    if (!info) return -1;
    int cap = argc * 4 + 4;
    struct keyref *keys = bndr_malloc((size_t)cap * sizeof *keys);
    int n = extract_keys(info, argc, argv, keys, cap);
    if (n > 0) {
        *pos = bndr_malloc((size_t)n * sizeof **pos);
        for (int i = 0; i < n; i++)
            (*pos)[i] = keys[i].pos;
    }
    bndr_free(keys);
    return n < 0 ? 0 : n;
}

/* COMMAND GETKEYS / GETKEYSANDFLAGS <full-command> (c->argv[2..]), as Redis 7.0's
 * getKeysSubcommandImpl. */
void bndr_meta_getkeys(struct bndr_client *c, int with_flags)
{
    int argc = c->argc - 2;
    const struct bndr_arg *argv = c->argv + 2;
    const char *info = info_for_argv(argc, argv);
    if (!info) {
        bndr_add_error(c, "ERR Invalid command specified");
        return;
    }
    int cap = argc * 4 + 4; /* a few specs, each at most argc keys */
    struct keyref *keys = bndr_malloc((size_t)cap * sizeof *keys);
    int n = extract_keys(info, argc, argv, keys, cap);
    if (n <= 0) {
        if (n == -1)
            bndr_add_error(c, "ERR The command has no key arguments");
        else if (n == -2)
            bndr_add_error(c, "ERR Invalid number of arguments specified for command");
        else if (info_has_flag(info, "no_mandatory_keys"))
            bndr_add_array(c, 0);
        else
            bndr_add_error(c, "ERR Invalid arguments specified for command");
        bndr_free(keys);
        return;
    }
    bndr_add_array(c, n);
    for (int i = 0; i < n; i++) {
        const struct bndr_arg *a = &argv[keys[i].pos];
        if (!with_flags) {
            bndr_add_bulk(c, a->p, a->n);
            continue;
        }
        bndr_add_array(c, 2);
        bndr_add_bulk(c, a->p, a->n);
        int nf = 0;
        for (size_t k = 0; k < NKFLAGS; k++)
            nf += (keys[i].flags >> k) & 1;
        bndr_add_set(c, nf);
        for (size_t k = 0; k < NKFLAGS; k++)
            if (keys[i].flags & (1u << k)) bndr_add_status(c, kflag_names[k]);
    }
    bndr_free(keys);
}
