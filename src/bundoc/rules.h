/* rules.h — the bundoc security rules expression language (prefix bdoc_rule_).
 *
 * A rule is a small boolean expression, a subset of CEL covering the reference's usage, e.g.
 *     request.auth != null && resource.data.owner == request.auth.uid
 * Grammar, operators, functions, error semantics and the trace format are documented in
 * docs/internals/bundoc-query.md ("Rules"). In short: literals (null true false, integers,
 * decimals, 'single' or "double" quoted strings, [lists]); the variables request (request.auth =
 * {uid, claims} or null, request.resource.data) and resource (resource.data); field selection a.b,
 * indexing a[i] / a['k']; == != < <= > >= (typed: never a number as a string; ordering needs
 * operands of one type class); in (list membership, map key); && || ! with CEL's error
 * absorption (false && error == false, true || error == true); has(a.b), size(x) / x.size(),
 * s.startsWith(t), s.endsWith(t), s.matches(re) / matches(s, re) (PCRE2, bounded); parentheses.
 *
 * Decisions: a rule allows only if it evaluates to exactly true. false, a non-boolean result or
 * an evaluation error (e.g. request.auth.uid while unauthenticated) is a denial, and the trace
 * says which. A rule that does not parse is rejected at compile time with a position.
 *
 * Bounds: source length BDOC_RULE_MAX_LEN bytes, nesting BDOC_RULE_MAX_DEPTH, nodes
 * BDOC_RULE_MAX_NODES (so evaluation recursion is bounded too); regexes as in query.h.
 *
 * Ownership: a compiled rule (or rule set) is immutable and may be evaluated by many threads at
 * once. Inputs to evaluation are borrowed for the call.
 */
#ifndef BDOC_RULES_H
#define BDOC_RULES_H

#include <jansson.h>
#include <stddef.h>

#define BDOC_RULE_MAX_LEN 4096
#define BDOC_RULE_MAX_DEPTH 64
#define BDOC_RULE_MAX_NODES 1024
#define BDOC_RULE_TRACE_MAX 8192 /* bytes of a trace (truncated with "...") */

struct bdoc_rule;

/* Where and why a rule does not parse. offset is a byte offset into the source; line and col
 * (1-based, col in bytes) locate it for humans; message is "line L, col C: <reason>". */
struct bdoc_rule_error {
    size_t offset;
    unsigned line, col;
    char message[256];
};

/* Compiles src[0..len) (need not be NUL-terminated; borrowed). New rule in *out, caller frees
 * with bdoc_rule_free. BB_EINVAL (syntax or type error: unknown variable or function, wrong
 * argument count, bad regex literal), BB_ETOOBIG (over a bound; position of the excess), BB_ENOMEM.
 * err may be NULL. */
int bdoc_rule_compile(const char *src, size_t len, struct bdoc_rule **out,
                      struct bdoc_rule_error *err);
void bdoc_rule_free(struct bdoc_rule *r);
/* The source text (NUL-terminated, owned by the rule). */
const char *bdoc_rule_source(const struct bdoc_rule *r);

/* What a rule sees. All borrowed; NULL means JSON null (auth NULL = unauthenticated). */
struct bdoc_rule_input {
    const json_t *auth;          /* {"uid": "...", "claims": {...}} */
    const json_t *resource_data; /* stored document (read, update, delete) or new one (create) */
    const json_t *request_data;  /* request.resource.data: the new document (update) */
};

/* Evaluates r. Sets *allow to 1 (allow) or 0 (deny) and returns 0; BB_ENOMEM on allocation
 * failure (then *allow is 0). If trace is not NULL, *trace receives a malloc'ed, NUL-terminated
 * explanation (caller free()s): one line per evaluated sub-expression, pre-order, indented two
 * spaces per level, "<source text> => <value | error: reason>" (operands skipped by
 * short-circuit evaluation do not appear; literals are not listed), then a last
 * line "allow" or "deny: <why>". */
int bdoc_rule_eval(const struct bdoc_rule *r, const struct bdoc_rule_input *in, int *allow,
                   char **trace);

/* ---- per-collection rule sets -------------------------------------------------------------- */

enum bdoc_rule_op {
    BDOC_RULE_READ,
    BDOC_RULE_LIST,
    BDOC_RULE_CREATE,
    BDOC_RULE_UPDATE,
    BDOC_RULE_DELETE,
};

struct bdoc_ruleset;

/* Compiles {"read": "...", "list": "...", "create": "...", "update": "...", "delete": "...",
 * "write": "..."} (every key optional; other keys are BB_EINVAL). Every rule must parse: the
 * message names the operation and the position ("update: line 1, col 9: ..."). Borrows rules. */
int bdoc_ruleset_compile(const json_t *rules, struct bdoc_ruleset **out, char *err,
                         size_t errcap);
void bdoc_ruleset_free(struct bdoc_ruleset *rs);
/* The rule governing op: its own, or "write" for create/update/delete without one; NULL when
 * there is none (the caller applies its default). Borrowed from rs. */
const struct bdoc_rule *bdoc_ruleset_get(const struct bdoc_ruleset *rs, enum bdoc_rule_op op);

#endif
