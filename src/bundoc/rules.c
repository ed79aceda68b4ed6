/* rules.c — lexer, recursive-descent parser and tree-walking evaluator with traces for the
 * bundoc rules language. See rules.h and docs/internals/bundoc-query.md.
 *
 * Grammar (precedence low to high):
 *   expr    := or
 *   or      := and ( "||" and )*
 *   and     := rel ( "&&" rel )*
 *   rel     := unary ( ("==" | "!=" | "<" | "<=" | ">" | ">=" | "in") unary )?
 *   unary   := "!" unary | "-" unary | postfix
 *   postfix := primary ( "." IDENT [ "(" args ")" ] | "[" expr "]" )*
 *   primary := literal | IDENT [ "(" args ")" ] | "(" expr ")" | "[" [ expr ("," expr)* ] "]"
 * Comparisons do not chain (a == b == c is a syntax error).
 */
#include "rules.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bb_crypto.h"
#include "bb_err.h"
#include "query.h"

/* ---- lexer --------------------------------------------------------------------------------- */

enum tok {
    T_EOF, T_IDENT, T_INT, T_REAL, T_STR, T_TRUE, T_FALSE, T_NULL, T_IN,
    T_EQ, T_NE, T_LT, T_LE, T_GT, T_GE, T_AND, T_OR, T_NOT, T_MINUS,
    T_LP, T_RP, T_LB, T_RB, T_DOT, T_COMMA,
};

struct lexer {
    const char *s;
    size_t len, pos;
    enum tok t;
    size_t tstart, tend;
    json_t *lit; /* literal value of the current token (owned) */
};

struct pctx {
    struct lexer lx;
    struct bdoc_rule_error *err;
    size_t nodes;
    int failed;
};

static void perr_at(struct pctx *p, size_t off, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void perr_at(struct pctx *p, size_t off, const char *fmt, ...)
{
    if (p->failed) return;
    p->failed = 1;
    if (!p->err) return;
    unsigned line = 1, col = 1;
    for (size_t i = 0; i < off && i < p->lx.len; i++) {
        if (p->lx.s[i] == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
    }
    p->err->offset = off;
    p->err->line = line;
    p->err->col = col;
    int n = snprintf(p->err->message, sizeof p->err->message, "line %u, col %u: ", line, col);
    va_list ap;
    va_start(ap, fmt);
    if (n >= 0 && (size_t)n < sizeof p->err->message)
        vsnprintf(p->err->message + n, sizeof p->err->message - (size_t)n, fmt, ap);
    va_end(ap);
}

static int is_ident_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* Reads a quoted string literal at lx->pos into lx->lit. */
static int lex_string(struct pctx *p)
{
    struct lexer *lx = &p->lx;
    char q = lx->s[lx->pos];
    size_t i = lx->pos + 1;
    char *buf = malloc(lx->len + 1);
    size_t n = 0;
    if (!buf) return BB_ENOMEM;
    for (;;) {
        if (i >= lx->len) {
            perr_at(p, lx->tstart, "unterminated string");
            free(buf);
            return BB_EINVAL;
        }
        char c = lx->s[i];
        if (c == q) break;
        if (c == '\n') {
            perr_at(p, i, "newline in string");
            free(buf);
            return BB_EINVAL;
        }
        if (c == '\\') {
            if (i + 1 >= lx->len) {
                perr_at(p, lx->tstart, "unterminated string");
                free(buf);
                return BB_EINVAL;
            }
            char e = lx->s[i + 1];
            i += 2;
            switch (e) {
            case 'n': buf[n++] = '\n'; break;
            case 't': buf[n++] = '\t'; break;
            case 'r': buf[n++] = '\r'; break;
            case '\\': buf[n++] = '\\'; break;
            case '\'': buf[n++] = '\''; break;
            case '"': buf[n++] = '"'; break;
            case 'u': {
                unsigned cp = 0;
                for (int k = 0; k < 4; k++) {
                    int h = i < lx->len ? bb_hex_digit((unsigned char)lx->s[i]) : -1;
                    if (h < 0) {
                        perr_at(p, i, "bad \\u escape (4 hex digits)");
                        free(buf);
                        return BB_EINVAL;
                    }
                    cp = cp * 16 + (unsigned)h;
                    i++;
                }
                if (cp == 0 || (cp >= 0xD800 && cp <= 0xDFFF)) {
                    perr_at(p, i - 6, "\\u escape of NUL or a surrogate is not allowed");
                    free(buf);
                    return BB_EINVAL;
                }
                if (cp < 0x80) {
                    buf[n++] = (char)cp;
                } else if (cp < 0x800) {
                    buf[n++] = (char)(0xC0 | (cp >> 6));
                    buf[n++] = (char)(0x80 | (cp & 0x3F));
                } else {
                    buf[n++] = (char)(0xE0 | (cp >> 12));
                    buf[n++] = (char)(0x80 | ((cp >> 6) & 0x3F));
                    buf[n++] = (char)(0x80 | (cp & 0x3F));
                }
                break;
            }
            default:
                perr_at(p, i - 2, "unknown escape \\%c", e);
                free(buf);
                return BB_EINVAL;
            }
            continue;
        }
        if (c == 0) {
            perr_at(p, i, "NUL byte in string");
            free(buf);
            return BB_EINVAL;
        }
        buf[n++] = c;
        i++;
    }
    lx->lit = json_stringn(buf, n);
    free(buf);
    if (!lx->lit) {
        perr_at(p, lx->tstart, "string is not valid UTF-8");
        return BB_EINVAL;
    }
    lx->pos = i + 1;
    lx->t = T_STR;
    return 0;
}

static int lex_next(struct pctx *p)
{
    struct lexer *lx = &p->lx;
    json_decref(lx->lit);
    lx->lit = NULL;
    while (lx->pos < lx->len && strchr(" \t\r\n", lx->s[lx->pos]) && lx->s[lx->pos]) lx->pos++;
    lx->tstart = lx->pos;
    if (lx->pos >= lx->len) {
        lx->t = T_EOF;
        lx->tend = lx->pos;
        return 0;
    }
    const char *s = lx->s;
    size_t i = lx->pos;
    char c = s[i];
    char d = i + 1 < lx->len ? s[i + 1] : 0;
    int rc = 0;
    if (is_ident_start(c)) {
        while (i < lx->len && (is_ident_start(s[i]) || is_digit(s[i]))) i++;
        size_t n = i - lx->pos;
        const char *w = s + lx->pos;
        lx->t = T_IDENT;
        if (n == 4 && !memcmp(w, "true", 4)) lx->t = T_TRUE;
        else if (n == 5 && !memcmp(w, "false", 5)) lx->t = T_FALSE;
        else if (n == 4 && !memcmp(w, "null", 4)) lx->t = T_NULL;
        else if (n == 2 && !memcmp(w, "in", 2)) lx->t = T_IN;
        lx->pos = i;
    } else if (is_digit(c)) {
        int real = 0;
        while (i < lx->len && is_digit(s[i])) i++;
        if (i + 1 < lx->len && s[i] == '.' && is_digit(s[i + 1])) {
            real = 1;
            i++;
            while (i < lx->len && is_digit(s[i])) i++;
        }
        if (i < lx->len && (s[i] == 'e' || s[i] == 'E')) {
            size_t j = i + 1;
            if (j < lx->len && (s[j] == '+' || s[j] == '-')) j++;
            if (j < lx->len && is_digit(s[j])) {
                real = 1;
                i = j;
                while (i < lx->len && is_digit(s[i])) i++;
            }
        }
        char num[64];
        if (i - lx->pos >= sizeof num) {
            perr_at(p, lx->pos, "number literal too long");
            return BB_EINVAL;
        }
        memcpy(num, s + lx->pos, i - lx->pos);
        num[i - lx->pos] = 0;
        errno = 0;
        char *end = NULL;
        if (real) {
            double v = strtod(num, &end);
            if (errno || !end || *end) {
                perr_at(p, lx->pos, "number out of range");
                return BB_EINVAL;
            }
            lx->lit = json_real(v);
            lx->t = T_REAL;
        } else {
            long long v = strtoll(num, &end, 10);
            if (errno || !end || *end) {
                perr_at(p, lx->pos, "integer out of range");
                return BB_EINVAL;
            }
            lx->lit = json_integer(v);
            lx->t = T_INT;
        }
        if (!lx->lit) return BB_ENOMEM;
        lx->pos = i;
    } else if (c == '"' || c == '\'') {
        rc = lex_string(p);
    } else {
        static const struct {
            const char *s;
            enum tok t;
        } ops[] = {{"==", T_EQ}, {"!=", T_NE}, {"<=", T_LE}, {">=", T_GE}, {"&&", T_AND},
                   {"||", T_OR}, {"<", T_LT},  {">", T_GT},  {"!", T_NOT}, {"-", T_MINUS},
                   {"(", T_LP},  {")", T_RP},  {"[", T_LB},  {"]", T_RB},  {".", T_DOT},
                   {",", T_COMMA}};
        size_t k;
        for (k = 0; k < sizeof ops / sizeof ops[0]; k++) {
            size_t n = strlen(ops[k].s);
            if (ops[k].s[0] == c && (n == 1 || ops[k].s[1] == d)) {
                lx->t = ops[k].t;
                lx->pos += n;
                break;
            }
        }
        if (k == sizeof ops / sizeof ops[0]) {
            if (c == '=') perr_at(p, i, "unexpected '=' (use == to compare)");
            else if (c == '&' || c == '|') perr_at(p, i, "unexpected '%c' (use %c%c)", c, c, c);
            else if ((unsigned char)c >= 0x20 && (unsigned char)c < 0x7f)
                perr_at(p, i, "unexpected character '%c'", c);
            else perr_at(p, i, "unexpected byte 0x%02x", (unsigned char)c);
            return BB_EINVAL;
        }
    }
    lx->tend = lx->pos;
    return rc;
}

/* ---- AST ----------------------------------------------------------------------------------- */

enum rk { R_LIT, R_VAR, R_SELECT, R_INDEX, R_LIST, R_NOT, R_NEG, R_AND, R_OR, R_CMP, R_IN,
          R_HAS, R_SIZE, R_STARTS, R_ENDS, R_MATCHES };

struct rnode {
    enum rk k;
    enum tok op; /* R_CMP */
    size_t start, end;
    json_t *lit;             /* R_LIT */
    char *name;              /* R_VAR, R_SELECT */
    struct rnode *a, *b;     /* operands / target and argument */
    struct rnode **items;    /* R_LIST */
    size_t nitems;
    struct bdoc_regex *re;   /* R_MATCHES with a literal pattern */
};

struct bdoc_rule {
    char *src;
    struct rnode *root;
};

static void rnode_free(struct rnode *n)
{
    if (!n) return;
    json_decref(n->lit);
    free(n->name);
    rnode_free(n->a);
    rnode_free(n->b);
    for (size_t i = 0; i < n->nitems; i++) rnode_free(n->items[i]);
    free(n->items);
    bdoc_regex_free(n->re);
    free(n);
}

static struct rnode *rnode_new(struct pctx *p, enum rk k, size_t start)
{
    if (++p->nodes > BDOC_RULE_MAX_NODES) {
        perr_at(p, start, "rule has more than %d nodes", BDOC_RULE_MAX_NODES);
        return NULL;
    }
    struct rnode *n = calloc(1, sizeof *n);
    if (!n) {
        perr_at(p, start, "out of memory");
        return NULL;
    }
    n->k = k;
    n->start = start;
    return n;
}

/* ---- parser -------------------------------------------------------------------------------- */

static struct rnode *parse_expr(struct pctx *p, int depth);

static int advance(struct pctx *p)
{
    int rc = lex_next(p);
    if (rc == BB_ENOMEM) perr_at(p, p->lx.pos, "out of memory");
    return rc;
}

static int expect(struct pctx *p, enum tok t, const char *what)
{
    if (p->lx.t != t) {
        perr_at(p, p->lx.tstart, "expected %s", what);
        return -1;
    }
    return advance(p) ? -1 : 0;
}

static const char *tok_desc(const struct pctx *p)
{
    return p->lx.t == T_EOF ? "end of rule" : "token";
}

/* Parses "(" args ")" after a function name; at most max args into out[]. */
static int parse_args(struct pctx *p, int depth, struct rnode **out, size_t max, size_t *n)
{
    *n = 0;
    if (advance(p)) return -1; /* '(' */
    if (p->lx.t == T_RP) return advance(p) ? -1 : 0;
    for (;;) {
        if (*n == max) {
            perr_at(p, p->lx.tstart, "too many arguments");
            return -1;
        }
        out[*n] = parse_expr(p, depth + 1);
        if (!out[*n]) return -1;
        (*n)++;
        if (p->lx.t == T_COMMA) {
            if (advance(p)) return -1;
            continue;
        }
        return expect(p, T_RP, "',' or ')'");
    }
}

/* Builds a call node for function name (global if target is NULL, method otherwise). */
static struct rnode *make_call(struct pctx *p, const char *name, size_t nlen, size_t start,
                               struct rnode *target, int depth)
{
    struct rnode *args[3] = {0};
    size_t nargs = 0;
    struct rnode *n = NULL;
    if (parse_args(p, depth, args, 3, &nargs)) goto fail;
    struct {
        const char *name;
        enum rk k;
        int method_args, global_args; /* -1: form not allowed */
    } fns[] = {{"has", R_HAS, -1, 1},
               {"size", R_SIZE, 0, 1},
               {"startsWith", R_STARTS, 1, -1},
               {"endsWith", R_ENDS, 1, -1},
               {"matches", R_MATCHES, 1, 2}};
    size_t f;
    for (f = 0; f < sizeof fns / sizeof fns[0]; f++)
        if (strlen(fns[f].name) == nlen && !memcmp(fns[f].name, name, nlen)) break;
    if (f == sizeof fns / sizeof fns[0]) {
        perr_at(p, start, "unknown function '%.*s'", (int)nlen, name);
        goto fail;
    }
    int want = target ? fns[f].method_args : fns[f].global_args;
    if (want < 0) {
        perr_at(p, start, "%s() must be called %s", fns[f].name,
                target ? "as a function, e.g. has(a.b)" : "as a method, e.g. s.startsWith('x')");
        goto fail;
    }
    if ((int)nargs != want) {
        perr_at(p, start, "%s() takes %d argument%s", fns[f].name, want, want == 1 ? "" : "s");
        goto fail;
    }
    n = rnode_new(p, fns[f].k, target ? target->start : start);
    if (!n) goto fail;
    if (target) {
        n->a = target;
        n->b = args[0];
    } else {
        n->a = args[0];
        n->b = args[1];
    }
    target = NULL;
    args[0] = args[1] = NULL;
    n->end = p->lx.tstart; /* refined by caller */
    if (n->k == R_HAS && n->a->k != R_SELECT && n->a->k != R_INDEX) {
        perr_at(p, n->a->start, "has() needs a field selection such as has(resource.data.x)");
        goto fail;
    }
    if (n->k == R_MATCHES && n->b->k == R_LIT) {
        char rerr[200];
        if (!json_is_string(n->b->lit)) {
            perr_at(p, n->b->start, "matches() needs a string pattern");
            goto fail;
        }
        if (bdoc_regex_compile(json_string_value(n->b->lit), json_string_length(n->b->lit), NULL,
                               &n->re, rerr, sizeof rerr)) {
            perr_at(p, n->b->start, "%s", rerr);
            goto fail;
        }
    }
    return n;
fail:
    rnode_free(n);
    rnode_free(target);
    for (size_t i = 0; i < 3; i++) rnode_free(args[i]);
    return NULL;
}

static struct rnode *parse_primary(struct pctx *p, int depth)
{
    struct rnode *n = NULL;
    size_t start = p->lx.tstart;
    if (depth > BDOC_RULE_MAX_DEPTH) {
        perr_at(p, start, "rule nested deeper than %d", BDOC_RULE_MAX_DEPTH);
        return NULL;
    }
    switch (p->lx.t) {
    case T_INT:
    case T_REAL:
    case T_STR:
    case T_TRUE:
    case T_FALSE:
    case T_NULL:
        if (!(n = rnode_new(p, R_LIT, start))) return NULL;
        n->lit = p->lx.t == T_TRUE    ? json_true()
                 : p->lx.t == T_FALSE ? json_false()
                 : p->lx.t == T_NULL  ? json_null()
                                      : json_incref(p->lx.lit);
        n->end = p->lx.tend;
        if (advance(p)) goto fail;
        return n;
    case T_IDENT: {
        const char *name = p->lx.s + start;
        size_t nlen = p->lx.tend - start;
        if (advance(p)) return NULL;
        if (p->lx.t == T_LP) {
            n = make_call(p, name, nlen, start, NULL, depth);
            if (n) n->end = p->lx.tstart;
            return n;
        }
        if (!((nlen == 7 && !memcmp(name, "request", 7)) ||
              (nlen == 8 && !memcmp(name, "resource", 8)))) {
            perr_at(p, start, "unknown variable '%.*s' (use request or resource)", (int)nlen,
                    name);
            return NULL;
        }
        if (!(n = rnode_new(p, R_VAR, start))) return NULL;
        n->name = strndup(name, nlen);
        n->end = start + nlen;
        if (!n->name) goto fail;
        return n;
    }
    case T_LP:
        if (advance(p)) return NULL;
        n = parse_expr(p, depth + 1);
        if (!n) return NULL;
        if (expect(p, T_RP, "')'")) goto fail;
        return n;
    case T_LB:
        if (!(n = rnode_new(p, R_LIST, start))) return NULL;
        if (advance(p)) goto fail;
        while (p->lx.t != T_RB) {
            struct rnode **it = realloc(n->items, (n->nitems + 1) * sizeof *it);
            if (!it) {
                perr_at(p, start, "out of memory");
                goto fail;
            }
            n->items = it;
            if (!(n->items[n->nitems] = parse_expr(p, depth + 1))) goto fail;
            n->nitems++;
            if (p->lx.t == T_COMMA) {
                if (advance(p)) goto fail;
            } else if (p->lx.t != T_RB) {
                perr_at(p, p->lx.tstart, "expected ',' or ']'");
                goto fail;
            }
        }
        n->end = p->lx.tend;
        if (advance(p)) goto fail;
        return n;
    default:
        perr_at(p, start, "expected a value, a variable or '(' but found %s", tok_desc(p));
        return NULL;
    }
fail:
    rnode_free(n);
    return NULL;
}

static struct rnode *parse_postfix(struct pctx *p, int depth)
{
    struct rnode *n = parse_primary(p, depth);
    while (n && (p->lx.t == T_DOT || p->lx.t == T_LB)) {
        if (p->lx.t == T_DOT) {
            if (advance(p)) goto fail;
            if (p->lx.t != T_IDENT && p->lx.t != T_IN && p->lx.t != T_NULL &&
                p->lx.t != T_TRUE && p->lx.t != T_FALSE) {
                perr_at(p, p->lx.tstart, "expected a field name after '.'");
                goto fail;
            }
            const char *name = p->lx.s + p->lx.tstart;
            size_t nlen = p->lx.tend - p->lx.tstart, nstart = p->lx.tstart;
            if (advance(p)) goto fail;
            if (p->lx.t == T_LP) {
                struct rnode *c = make_call(p, name, nlen, nstart, n, depth);
                n = NULL; /* consumed */
                if (!c) goto fail;
                c->end = p->lx.tstart;
                n = c;
                continue;
            }
            struct rnode *s = rnode_new(p, R_SELECT, n->start);
            if (!s) goto fail;
            s->a = n;
            n = s;
            n->name = strndup(name, nlen);
            n->end = nstart + nlen;
            if (!n->name) goto fail;
        } else {
            struct rnode *s = rnode_new(p, R_INDEX, n->start);
            if (!s) goto fail;
            s->a = n;
            n = s;
            if (advance(p)) goto fail;
            if (!(n->b = parse_expr(p, depth + 1))) goto fail;
            n->end = p->lx.tend;
            if (expect(p, T_RB, "']'")) goto fail;
        }
    }
    return n;
fail:
    rnode_free(n);
    return NULL;
}

static struct rnode *parse_unary(struct pctx *p, int depth)
{
    if (depth > BDOC_RULE_MAX_DEPTH) {
        perr_at(p, p->lx.tstart, "rule nested deeper than %d", BDOC_RULE_MAX_DEPTH);
        return NULL;
    }
    if (p->lx.t == T_NOT || p->lx.t == T_MINUS) {
        size_t start = p->lx.tstart;
        enum rk k = p->lx.t == T_NOT ? R_NOT : R_NEG;
        if (advance(p)) return NULL;
        struct rnode *a = parse_unary(p, depth + 1);
        if (!a) return NULL;
        struct rnode *n = rnode_new(p, k, start);
        if (!n) {
            rnode_free(a);
            return NULL;
        }
        n->a = a;
        n->end = a->end;
        return n;
    }
    return parse_postfix(p, depth);
}

static int is_rel(enum tok t)
{
    return t == T_EQ || t == T_NE || t == T_LT || t == T_LE || t == T_GT || t == T_GE ||
           t == T_IN;
}

static struct rnode *parse_rel(struct pctx *p, int depth)
{
    struct rnode *a = parse_unary(p, depth);
    if (!a || !is_rel(p->lx.t)) return a;
    enum tok op = p->lx.t;
    if (advance(p)) goto fail;
    struct rnode *b = parse_unary(p, depth);
    if (!b) goto fail;
    struct rnode *n = rnode_new(p, op == T_IN ? R_IN : R_CMP, a->start);
    if (!n) {
        rnode_free(b);
        goto fail;
    }
    n->op = op;
    n->a = a;
    n->b = b;
    n->end = b->end;
    if (is_rel(p->lx.t)) {
        perr_at(p, p->lx.tstart, "comparisons do not chain; use && and parentheses");
        rnode_free(n);
        return NULL;
    }
    return n;
fail:
    rnode_free(a);
    return NULL;
}

static struct rnode *parse_bin(struct pctx *p, int depth, int level)
{
    struct rnode *a = level ? parse_rel(p, depth) : parse_bin(p, depth, 1);
    enum tok t = level ? T_AND : T_OR;
    while (a && p->lx.t == t) {
        if (advance(p)) goto fail;
        struct rnode *b = level ? parse_rel(p, depth) : parse_bin(p, depth, 1);
        if (!b) goto fail;
        struct rnode *n = rnode_new(p, level ? R_AND : R_OR, a->start);
        if (!n) {
            rnode_free(b);
            goto fail;
        }
        n->a = a;
        n->b = b;
        n->end = b->end;
        a = n;
    }
    return a;
fail:
    rnode_free(a);
    return NULL;
}

static struct rnode *parse_expr(struct pctx *p, int depth)
{
    if (depth > BDOC_RULE_MAX_DEPTH) {
        perr_at(p, p->lx.tstart, "rule nested deeper than %d", BDOC_RULE_MAX_DEPTH);
        return NULL;
    }
    struct rnode *n = parse_bin(p, depth + 1, 0);
    return n;
}

void bdoc_rule_free(struct bdoc_rule *r)
{
    if (!r) return;
    rnode_free(r->root);
    free(r->src);
    free(r);
}

const char *bdoc_rule_source(const struct bdoc_rule *r)
{
    return r->src;
}

int bdoc_rule_compile(const char *src, size_t len, struct bdoc_rule **out,
                      struct bdoc_rule_error *err)
{
    int rc = BB_EINVAL;
    struct bdoc_rule *r = NULL;
    struct pctx p;
    memset(&p, 0, sizeof p);
    p.err = err;
    *out = NULL;
    if (err) memset(err, 0, sizeof *err);
    if (!src && len) return BB_EINVAL;
    p.lx.s = src ? src : "";
    p.lx.len = len;
    if (len > BDOC_RULE_MAX_LEN) {
        p.lx.len = 0;
        perr_at(&p, BDOC_RULE_MAX_LEN, "rule longer than %d bytes", BDOC_RULE_MAX_LEN);
        if (err) {
            err->offset = BDOC_RULE_MAX_LEN;
        }
        return BB_ETOOBIG;
    }
    if (memchr(p.lx.s, 0, len)) {
        perr_at(&p, (size_t)((const char *)memchr(p.lx.s, 0, len) - p.lx.s), "NUL byte in rule");
        return BB_EINVAL;
    }
    r = calloc(1, sizeof *r);
    if (!r || !(r->src = strndup(p.lx.s, len))) {
        rc = BB_ENOMEM;
        goto out;
    }
    if (advance(&p)) goto fail;
    if (p.lx.t == T_EOF) {
        perr_at(&p, 0, "empty rule");
        goto out;
    }
    r->root = parse_expr(&p, 0);
    if (!r->root) goto fail;
    if (p.lx.t != T_EOF) {
        perr_at(&p, p.lx.tstart, "unexpected token after the end of the expression");
        goto out;
    }
    *out = r;
    r = NULL;
    rc = 0;
    goto out;
fail:
    if (p.nodes > BDOC_RULE_MAX_NODES) rc = BB_ETOOBIG;
    if (err && strstr(err->message, "deeper than")) rc = BB_ETOOBIG;
    if (err && strstr(err->message, "out of memory")) rc = BB_ENOMEM;
out:
    json_decref(p.lx.lit);
    bdoc_rule_free(r);
    return rc;
}

/* ---- evaluation ---------------------------------------------------------------------------- */

struct tentry {
    int depth;
    size_t start, end;
    char result[160];
};

struct ectx {
    const char *src;
    json_t *request, *resource;
    struct tentry *tr; /* NULL: no trace */
    size_t ntr, captr;
    int oom;
};

/* A value: v (new reference) or an error message. */
struct rval {
    json_t *v;
    char err[128];
};

static void rv_err(struct rval *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void rv_err(struct rval *r, const char *fmt, ...)
{
    json_decref(r->v);
    r->v = NULL;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err, sizeof r->err, fmt, ap);
    va_end(ap);
}

static void rv_set(struct rval *r, json_t *v) /* takes v */
{
    json_decref(r->v);
    r->v = v;
    r->err[0] = 0;
}

static const char *kind_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_NULL: return "null";
    case JSON_TRUE:
    case JSON_FALSE: return "bool";
    case JSON_INTEGER:
    case JSON_REAL: return "number";
    case JSON_STRING: return "string";
    case JSON_OBJECT: return "map";
    case JSON_ARRAY: return "list";
    }
    return "?";
}

static void render(const struct rval *r, char *buf, size_t cap)
{
    if (!r->v) {
        snprintf(buf, cap, "error: %s", r->err);
        return;
    }
    char *s = json_dumps(r->v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!s) {
        snprintf(buf, cap, "?");
        return;
    }
    if (strlen(s) >= cap) snprintf(buf, cap, "%.*s...", (int)(cap - 4), s);
    else snprintf(buf, cap, "%s", s);
    free(s);
}

static void eval(struct ectx *c, const struct rnode *n, int depth, struct rval *out);
static void eval_has(struct ectx *c, const struct rnode *n, int depth, struct rval *out);

/* Evaluates n with a trace entry; entries are pre-order (slot reserved before children). */
static void eval_traced(struct ectx *c, const struct rnode *n, int depth, struct rval *out)
{
    size_t slot = (size_t)-1;
    if (c->tr && n->k != R_LIT && c->ntr < 256) {
        if (c->ntr == c->captr) {
            size_t nc = c->captr ? 2 * c->captr : 16;
            struct tentry *t = realloc(c->tr, nc * sizeof *t);
            if (!t) c->oom = 1;
            else {
                c->tr = t;
                c->captr = nc;
            }
        }
        if (c->ntr < c->captr) {
            slot = c->ntr++;
            c->tr[slot].depth = depth;
            c->tr[slot].start = n->start;
            c->tr[slot].end = n->end;
        }
    }
    eval(c, n, depth, out);
    if (slot != (size_t)-1) render(out, c->tr[slot].result, sizeof c->tr[slot].result);
}

static void eval_select(struct rval *out, const json_t *obj, const char *name)
{
    if (!json_is_object(obj)) {
        rv_err(out, "cannot select '%.40s' on %s", name, kind_name(obj));
        return;
    }
    json_t *v = json_object_get(obj, name);
    if (!v) {
        rv_err(out, "no such key '%.40s'", name);
        return;
    }
    rv_set(out, json_incref(v));
}

static void eval_logic(struct ectx *c, const struct rnode *n, int depth, struct rval *out)
{
    int is_and = n->k == R_AND;
    const char *op = is_and ? "&&" : "||";
    struct rval a = {0}, b = {0};
    eval_traced(c, n->a, depth + 1, &a);
    if (a.v && !json_is_boolean(a.v)) rv_err(&a, "%s needs booleans, got %s", op, kind_name(a.v));
    if (a.v && json_is_true(a.v) != is_and) { /* short circuit */
        rv_set(out, json_boolean(!is_and));
        goto done;
    }
    eval_traced(c, n->b, depth + 1, &b);
    if (b.v && !json_is_boolean(b.v)) rv_err(&b, "%s needs booleans, got %s", op, kind_name(b.v));
    if (b.v && json_is_true(b.v) != is_and) { /* absorbs an error on the left */
        rv_set(out, json_boolean(!is_and));
        goto done;
    }
    if (!a.v) rv_err(out, "%s", a.err);
    else if (!b.v) rv_err(out, "%s", b.err);
    else rv_set(out, json_boolean(is_and));
done:
    json_decref(a.v);
    json_decref(b.v);
}

static size_t cp_len(const json_t *s)
{
    size_t n = 0;
    const char *p = json_string_value(s);
    for (size_t i = 0; i < json_string_length(s); i++) n += ((unsigned char)p[i] & 0xC0) != 0x80;
    return n;
}

static void eval(struct ectx *c, const struct rnode *n, int depth, struct rval *out)
{
    struct rval a = {0}, b = {0};
    rv_set(out, NULL);
    switch (n->k) {
    case R_LIT: rv_set(out, json_incref(n->lit)); return;
    case R_VAR:
        rv_set(out, json_incref(n->name[1] == 'e' && n->name[2] == 'q' ? c->request
                                                                       : c->resource));
        return;
    case R_LIST: {
        json_t *l = json_array();
        if (!l) {
            c->oom = 1;
            rv_err(out, "out of memory");
            return;
        }
        for (size_t i = 0; i < n->nitems; i++) {
            struct rval e = {0};
            eval_traced(c, n->items[i], depth + 1, &e);
            if (!e.v) {
                rv_err(out, "%s", e.err);
                json_decref(l);
                return;
            }
            json_array_append_new(l, e.v);
        }
        rv_set(out, l);
        return;
    }
    case R_AND:
    case R_OR: eval_logic(c, n, depth, out); return;
    case R_HAS: eval_has(c, n, depth, out); return;
    default: break;
    }
    if (n->a) eval_traced(c, n->a, depth + 1, &a);
    if (!a.v && n->a) {
        rv_err(out, "%s", a.err);
        goto out;
    }
    switch (n->k) {
    case R_SELECT: eval_select(out, a.v, n->name); break;
    case R_INDEX:
        eval_traced(c, n->b, depth + 1, &b);
        if (!b.v) {
            rv_err(out, "%s", b.err);
        } else if (json_is_array(a.v) && json_is_integer(b.v)) {
            json_int_t i = json_integer_value(b.v);
            json_t *e = i >= 0 ? json_array_get(a.v, (size_t)i) : NULL;
            if (e) rv_set(out, json_incref(e));
            else rv_err(out, "index %lld out of range", (long long)i);
        } else if (json_is_object(a.v) && json_is_string(b.v)) {
            eval_select(out, a.v, json_string_value(b.v));
        } else {
            rv_err(out, "cannot index %s with %s", kind_name(a.v), kind_name(b.v));
        }
        break;
    case R_NOT:
        if (json_is_boolean(a.v)) rv_set(out, json_boolean(!json_is_true(a.v)));
        else rv_err(out, "! needs a boolean, got %s", kind_name(a.v));
        break;
    case R_NEG:
        if (json_is_integer(a.v) && json_integer_value(a.v) != INT64_MIN)
            rv_set(out, json_integer(-json_integer_value(a.v)));
        else if (json_is_real(a.v)) rv_set(out, json_real(-json_real_value(a.v)));
        else rv_err(out, "- needs a number, got %s", kind_name(a.v));
        break;
    case R_CMP: {
        eval_traced(c, n->b, depth + 1, &b);
        if (!b.v) {
            rv_err(out, "%s", b.err);
            break;
        }
        if (n->op == T_EQ || n->op == T_NE) {
            int eq = bdoc_value_equal(a.v, b.v);
            rv_set(out, json_boolean(n->op == T_EQ ? eq : !eq));
            break;
        }
        enum bdoc_type_class ta = bdoc_type_class(a.v), tb = bdoc_type_class(b.v);
        if (ta != tb || (ta != BDOC_TC_NUMBER && ta != BDOC_TC_STRING && ta != BDOC_TC_BOOL)) {
            rv_err(out, "cannot order %s and %s", kind_name(a.v), kind_name(b.v));
            break;
        }
        int k = bdoc_value_cmp(a.v, b.v);
        int r = n->op == T_LT ? k < 0 : n->op == T_LE ? k <= 0 : n->op == T_GT ? k > 0 : k >= 0;
        rv_set(out, json_boolean(r));
        break;
    }
    case R_IN:
        eval_traced(c, n->b, depth + 1, &b);
        if (!b.v) {
            rv_err(out, "%s", b.err);
        } else if (json_is_array(b.v)) {
            int found = 0;
            size_t i;
            json_t *e;
            json_array_foreach(b.v, i, e) found |= bdoc_value_equal(a.v, e);
            rv_set(out, json_boolean(found));
        } else if (json_is_object(b.v)) {
            if (json_is_string(a.v))
                rv_set(out, json_boolean(json_object_get(b.v, json_string_value(a.v)) != NULL));
            else rv_err(out, "map keys are strings, got %s", kind_name(a.v));
        } else {
            rv_err(out, "'in' needs a list or a map, got %s", kind_name(b.v));
        }
        break;
    case R_SIZE:
        if (json_is_string(a.v)) rv_set(out, json_integer((json_int_t)cp_len(a.v)));
        else if (json_is_array(a.v)) rv_set(out, json_integer((json_int_t)json_array_size(a.v)));
        else if (json_is_object(a.v))
            rv_set(out, json_integer((json_int_t)json_object_size(a.v)));
        else rv_err(out, "size() needs a string, list or map, got %s", kind_name(a.v));
        break;
    case R_STARTS:
    case R_ENDS:
    case R_MATCHES: {
        const char *fn = n->k == R_STARTS ? "startsWith" : n->k == R_ENDS ? "endsWith" : "matches";
        eval_traced(c, n->b, depth + 1, &b);
        if (!b.v) {
            rv_err(out, "%s", b.err);
            break;
        }
        if (!json_is_string(a.v) || !json_is_string(b.v)) {
            rv_err(out, "%s() needs strings, got %s and %s", fn, kind_name(a.v), kind_name(b.v));
            break;
        }
        const char *s = json_string_value(a.v), *t = json_string_value(b.v);
        size_t ls = json_string_length(a.v), lt = json_string_length(b.v);
        if (n->k == R_STARTS) {
            rv_set(out, json_boolean(lt <= ls && !memcmp(s, t, lt)));
        } else if (n->k == R_ENDS) {
            rv_set(out, json_boolean(lt <= ls && !memcmp(s + ls - lt, t, lt)));
        } else {
            struct bdoc_regex *re = n->re, *tmp = NULL;
            char rerr[100];
            if (!re && bdoc_regex_compile(t, lt, NULL, &tmp, rerr, sizeof rerr)) {
                rv_err(out, "%s", rerr);
                break;
            }
            int m = bdoc_regex_match(re ? re : tmp, s, ls);
            bdoc_regex_free(tmp);
            if (m < 0) {
                c->oom = 1;
                rv_err(out, "out of memory");
            } else {
                rv_set(out, json_boolean(m));
            }
        }
        break;
    }
    default: rv_err(out, "internal: bad node"); break;
    }
out:
    json_decref(a.v);
    json_decref(b.v);
}

/* has() evaluates its operand's target and tests the last key without erroring on absence. */
static void eval_has(struct ectx *c, const struct rnode *n, int depth, struct rval *out)
{
    const struct rnode *sel = n->a;
    struct rval t = {0}, k = {0};
    rv_set(out, NULL);
    eval_traced(c, sel->a, depth + 1, &t);
    if (!t.v) {
        rv_err(out, "%s", t.err);
        goto out;
    }
    if (sel->k == R_SELECT) {
        if (json_is_object(t.v)) rv_set(out, json_boolean(json_object_get(t.v, sel->name) != NULL));
        else rv_err(out, "has() on %s", kind_name(t.v));
        goto out;
    }
    eval_traced(c, sel->b, depth + 1, &k);
    if (!k.v) rv_err(out, "%s", k.err);
    else if (json_is_object(t.v) && json_is_string(k.v))
        rv_set(out, json_boolean(json_object_get(t.v, json_string_value(k.v)) != NULL));
    else if (json_is_array(t.v) && json_is_integer(k.v))
        rv_set(out, json_boolean(json_integer_value(k.v) >= 0 &&
                                 (size_t)json_integer_value(k.v) < json_array_size(t.v)));
    else rv_err(out, "has() on %s with %s", kind_name(t.v), kind_name(k.v));
out:
    json_decref(t.v);
    json_decref(k.v);
}

static json_t *build_vars(const struct bdoc_rule_input *in, json_t **resource)
{
    json_t *auth = in && in->auth ? json_incref((json_t *)in->auth) : json_null();
    json_t *rd = in && in->resource_data ? json_incref((json_t *)in->resource_data) : json_null();
    json_t *qd = in && in->request_data ? json_incref((json_t *)in->request_data) : json_null();
    json_t *req = json_pack("{s:o,s:{s:o}}", "auth", auth, "resource", "data", qd);
    *resource = json_pack("{s:o}", "data", rd);
    return req;
}

int bdoc_rule_eval(const struct bdoc_rule *r, const struct bdoc_rule_input *in, int *allow,
                   char **trace)
{
    int rc = 0;
    struct ectx c;
    struct rval res = {0};
    char *buf = NULL;
    memset(&c, 0, sizeof c);
    *allow = 0;
    if (trace) *trace = NULL;
    if (!r) return BB_EINVAL;
    c.src = r->src;
    c.request = build_vars(in, &c.resource);
    if (!c.request || !c.resource) {
        rc = BB_ENOMEM;
        goto out;
    }
    if (trace) {
        c.captr = 16;
        c.tr = malloc(c.captr * sizeof *c.tr);
        if (!c.tr) {
            rc = BB_ENOMEM;
            goto out;
        }
    }
    eval_traced(&c, r->root, 0, &res);
    if (c.oom) {
        rc = BB_ENOMEM;
        goto out;
    }
    *allow = res.v && json_is_true(res.v);
    if (trace) {
        size_t cap = BDOC_RULE_TRACE_MAX, body = BDOC_RULE_TRACE_MAX - 256, n = 0;
        buf = malloc(cap);
        if (!buf) {
            rc = BB_ENOMEM;
            *allow = 0;
            goto out;
        }
        buf[0] = 0;
        int truncated = c.ntr >= 256;
        for (size_t i = 0; i < c.ntr; i++) {
            const struct tentry *t = &c.tr[i];
            size_t len = t->end > t->start ? t->end - t->start : 0;
            int ind = t->depth > 40 ? 80 : 2 * t->depth;
            int w = snprintf(buf + n, body - n, "%*s%.*s%s => %s\n", ind, "",
                             (int)(len > 80 ? 77 : len), c.src + t->start, len > 80 ? "..." : "",
                             t->result);
            if (w < 0 || (size_t)w >= body - n) { /* this line does not fit: cut here */
                buf[n] = 0;
                truncated = 1;
                break;
            }
            n += (size_t)w;
        }
        if (truncated) {
            memcpy(buf + n, "...\n", 5);
            n += 4;
        }
        const char *why = *allow ? "allow" : NULL;
        char tail[200];
        if (!why) {
            if (!res.v) snprintf(tail, sizeof tail, "deny: error: %s", res.err);
            else if (!json_is_boolean(res.v))
                snprintf(tail, sizeof tail, "deny: rule returned %s, not a boolean",
                         kind_name(res.v));
            else snprintf(tail, sizeof tail, "deny: rule evaluated to false");
            why = tail;
        }
        snprintf(buf + n, cap - n, "%s", why);
        *trace = buf;
        buf = NULL;
    }
out:
    json_decref(res.v);
    json_decref(c.request);
    json_decref(c.resource);
    free(c.tr);
    free(buf);
    return rc;
}

/* ---- rule sets ----------------------------------------------------------------------------- */

static const char *const OP_NAMES[] = {"read", "list", "create", "update", "delete", "write"};
#define N_OPS 6

struct bdoc_ruleset {
    struct bdoc_rule *rules[N_OPS];
};

void bdoc_ruleset_free(struct bdoc_ruleset *rs)
{
    if (!rs) return;
    for (int i = 0; i < N_OPS; i++) bdoc_rule_free(rs->rules[i]);
    free(rs);
}

int bdoc_ruleset_compile(const json_t *rules, struct bdoc_ruleset **out, char *err,
                         size_t errcap)
{
    int rc = 0;
    struct bdoc_ruleset *rs = NULL;
    *out = NULL;
    if (err && errcap) err[0] = 0;
    if (!json_is_object(rules)) {
        if (err && errcap) snprintf(err, errcap, "rules must be an object of strings");
        return BB_EINVAL;
    }
    rs = calloc(1, sizeof *rs);
    if (!rs) return BB_ENOMEM;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)rules, k, v) {
        int i = 0;
        while (i < N_OPS && strcmp(OP_NAMES[i], k)) i++;
        if (i == N_OPS) {
            if (err && errcap)
                snprintf(err, errcap, "unknown rule operation '%.40s' (read, list, create, "
                                      "update, delete, write)", k);
            rc = BB_EINVAL;
            goto out;
        }
        if (!json_is_string(v)) {
            if (err && errcap) snprintf(err, errcap, "%s: rule must be a string", k);
            rc = BB_EINVAL;
            goto out;
        }
        struct bdoc_rule_error e;
        rc = bdoc_rule_compile(json_string_value(v), json_string_length(v), &rs->rules[i], &e);
        if (rc) {
            if (err && errcap) snprintf(err, errcap, "%s: %s", k, e.message);
            goto out;
        }
    }
    *out = rs;
    rs = NULL;
out:
    bdoc_ruleset_free(rs);
    return rc;
}

const struct bdoc_rule *bdoc_ruleset_get(const struct bdoc_ruleset *rs, enum bdoc_rule_op op)
{
    if (!rs || (int)op < 0 || (int)op >= N_OPS - 1) return NULL;
    if (rs->rules[op]) return rs->rules[op];
    if (op == BDOC_RULE_CREATE || op == BDOC_RULE_UPDATE || op == BDOC_RULE_DELETE)
        return rs->rules[N_OPS - 1];
    return NULL;
}
