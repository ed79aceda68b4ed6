/* cli_http.c — requests to the control plane with the profile's credential.
 *
 * Credentials: a developer session (access token + refresh token from `login`) or a personal
 * access token (`login --token`). Both go as `Authorization: Bearer …`. An access token that
 * expires within REFRESH_MARGIN_S is refreshed first, under the config lock (cli_config.c), after
 * re-reading the file: when another bunbase process refreshed meanwhile its tokens are used, so a
 * refresh token is never sent twice. A 401 `token_expired` answer (clock skew) refreshes once more
 * and retries the request once.
 *
 * One mapping from HTTP status to exit code: cli_exit_for_status().
 */
#include "cli.h"

#include "bb_err.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define REFRESH_MARGIN_S 30
#define CLI_MAX_RESPONSE (256u * 1024u * 1024u)
#define DEFAULT_TIMEOUT_MS 30000L

int cli_exit_for_status(long status)
{
    if (status >= 200 && status < 300) return CLI_OK;
    switch (status) {
    case 401:
    case 403: return CLI_EAUTH;
    case 404: return CLI_ENOTFOUND;
    case 409:
    case 412: return CLI_ECONFLICT;
    case 429: return CLI_ESERVER;
    default: break;
    }
    if (status >= 400 && status < 500) return CLI_EUSAGE;
    return CLI_ESERVER;
}

static void json_error_out(int code, long status, const char *machine, const char *msg)
{
    json_t *e = json_pack("{s:{s:i,s:s,s:s,s:i}}", "error", "status", (json_int_t)status, "code",
                          machine ? machine : "error", "message", msg ? msg : "", "exit", code);
    if (e) cli_print_json(e);
    json_decref(e);
}

int cli_fail(struct cli *c, int code, const char *machine_code, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "bunbase: %s\n", msg);
    if (c->json) json_error_out(code, 0, machine_code, msg);
    return code;
}

int cli_fail_response(struct cli *c, const struct bb_httpc_response *resp)
{
    int code = cli_exit_for_status(resp->status);
    json_t *j = NULL;
    const char *msg = NULL, *machine = NULL;
    if (resp->body_len && bb_json_parse(resp->body, resp->body_len, 64, &j, NULL, 0) == 0 &&
        json_is_object(j)) {
        msg = bb_json_str(j, "error", NULL);
        machine = bb_json_str(j, "code", NULL);
    }
    char fallback[64];
    if (!msg) {
        snprintf(fallback, sizeof fallback, "HTTP %ld", resp->status);
        msg = fallback;
    }
    if (!machine) machine = code == CLI_ENOTFOUND ? "not_found" : "http_error";
    const char *rid = bb_httpc_response_header(resp, "X-Request-Id");
    fprintf(stderr, "bunbase: %s (%s, HTTP %ld%s%s)\n", msg, machine, resp->status,
            rid ? ", request " : "", rid ? rid : "");
    if (c->json) json_error_out(code, resp->status, machine, msg);
    json_decref(j);
    return code;
}

int cli_pct_encode(const char *s, size_t len, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        int plain = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                    (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.' || ch == '~';
        if (o + (plain ? 1 : 3) >= cap) return BB_ETOOBIG;
        if (plain) {
            out[o++] = (char)ch;
        } else {
            out[o++] = '%';
            out[o++] = hex[ch >> 4];
            out[o++] = hex[ch & 15];
        }
    }
    out[o] = 0;
    return 0;
}

/* One HTTP exchange; 0 or an exit code after printing why. */
static int send(struct cli *c, const char *method, const char *path, const char *ctype,
                const void *body, size_t len, const char *bearer, const char *const *extra,
                struct bb_httpc_response *resp)
{
    char url[CLI_MAX_URL + 8192];
    const char *base = cli_base_url(c);
    if ((size_t)snprintf(url, sizeof url, "%s%s", base, path) >= sizeof url)
        return cli_fail(c, CLI_EUSAGE, "too_long", "request URL too long");
    char auth[4096], ct[160];
    const char *headers[4 + CLI_MAX_OPTS];
    int nh = 0;
    if (bearer) {
        if ((size_t)snprintf(auth, sizeof auth, "Authorization: Bearer %s", bearer) >= sizeof auth)
            return cli_fail(c, CLI_EAUTH, "invalid_token", "stored credential too long");
        headers[nh++] = auth;
    }
    if (ctype) {
        snprintf(ct, sizeof ct, "Content-Type: %s", ctype);
        headers[nh++] = ct;
    }
    for (int i = 0; extra && extra[i] && i < CLI_MAX_OPTS; i++)
        headers[nh++] = extra[i];
    headers[nh] = NULL;
    struct bb_httpc_request req = {
        .method = method,
        .url = url,
        .headers = headers,
        .body = body,
        .body_len = len,
        .timeout_ms = cli_env_long("BUNBASE_CLI_TIMEOUT_MS", DEFAULT_TIMEOUT_MS, 100, 3600000L),
        .max_response_bytes = CLI_MAX_RESPONSE,
    };
    int rc = bb_httpc_do(&req, resp);
    if (rc == BB_EINVAL) return cli_fail(c, CLI_EUSAGE, "invalid_url", "invalid URL '%s'", base);
    if (rc)
        return cli_fail(c, CLI_ESERVER, "unreachable", "%s: %s", base, bb_strerror(rc));
    return 0;
}

/* Refreshes the session's access token (see the top of the file). force: even when the stored
 * one looks valid (the server said it expired). */
static int refresh(struct cli *c, const char *used_access, int force)
{
    int rc = cli_config_begin(c);
    if (rc) return rc;
    json_t *auth = json_object_get(cli_profile(c), "auth");
    const char *access = bb_json_str(auth, "access_token", NULL);
    const char *rt = bb_json_str(auth, "refresh_token", NULL);
    long long exp = bb_json_int(auth, "expires_at", 0);
    if (!auth || !rt) {
        cli_config_abort(c);
        return cli_fail(c, CLI_EAUTH, "not_logged_in", "not logged in (profile '%s')", c->profile);
    }
    /* another process refreshed since we read the file? */
    if (access && (!used_access || strcmp(access, used_access)) &&
        exp - (long long)time(NULL) > REFRESH_MARGIN_S) {
        cli_config_abort(c);
        return 0;
    }
    if (!force && exp - (long long)time(NULL) > REFRESH_MARGIN_S) {
        cli_config_abort(c);
        return 0;
    }
    json_t *body = json_pack("{s:s}", "refresh_token", rt);
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!text) {
        cli_config_abort(c);
        return cli_fail(c, CLI_ESERVER, "nomem", "out of memory");
    }
    struct bb_httpc_response resp;
    rc = send(c, "POST", "/v1/auth/refresh", "application/json", text, strlen(text), NULL, NULL,
              &resp);
    free(text);
    if (rc) {
        cli_config_abort(c);
        return rc;
    }
    json_t *j = NULL;
    if (resp.status == 200 && bb_json_parse(resp.body, resp.body_len, 64, &j, NULL, 0) == 0 &&
        bb_json_str(j, "access_token", NULL) && bb_json_str(j, "refresh_token", NULL)) {
        json_object_set(auth, "access_token", json_object_get(j, "access_token"));
        json_object_set(auth, "refresh_token", json_object_get(j, "refresh_token"));
        json_object_set_new(auth, "expires_at", json_integer(bb_json_int(j, "expires_at", 0)));
        if (json_object_get(j, "session_id"))
            json_object_set(auth, "session_id", json_object_get(j, "session_id"));
        json_decref(j);
        bb_httpc_response_release(&resp);
        return cli_config_commit(c);
    }
    json_decref(j);
    if (resp.status == 401) {
        /* the session is over (expired, logged out, revoked): forget it */
        json_object_del(cli_profile(c), "auth");
        rc = cli_config_commit(c);
        bb_httpc_response_release(&resp);
        if (rc) return rc;
        if (c->session_end_ok) return CLI_EAUTH;
        return cli_fail(c, CLI_EAUTH, "session_expired",
                        "the session has ended: run bunbase login (profile '%s')", c->profile);
    }
    cli_config_abort(c);
    rc = cli_fail_response(c, &resp);
    bb_httpc_response_release(&resp);
    return rc;
}

/* The bearer of the profile (copied to buf), refreshing first when due. NULL buf[0]: none. */
static int bearer_of(struct cli *c, char *buf, size_t cap, int *is_session)
{
    json_t *auth = json_object_get(cli_profile(c), "auth");
    buf[0] = 0;
    *is_session = 0;
    if (!auth) return 0;
    const char *kind = bb_json_str(auth, "kind", "");
    if (!strcmp(kind, "pat")) {
        snprintf(buf, cap, "%s", bb_json_str(auth, "token", ""));
        return 0;
    }
    *is_session = 1;
    long long exp = bb_json_int(auth, "expires_at", 0);
    if (exp - (long long)time(NULL) <= REFRESH_MARGIN_S) {
        char used[4096];
        snprintf(used, sizeof used, "%s", bb_json_str(auth, "access_token", ""));
        int rc = refresh(c, used, 0);
        if (rc) return rc;
        auth = json_object_get(cli_profile(c), "auth");
    }
    snprintf(buf, cap, "%s", bb_json_str(auth, "access_token", ""));
    return 0;
}

int cli_request(struct cli *c, const char *method, const char *path, const char *ctype,
                const void *body, size_t body_len, unsigned flags, struct bb_httpc_response *resp)
{
    memset(resp, 0, sizeof *resp);
    char bearer[4096];
    int is_session = 0;
    int rc = 0;
    if (!(flags & CLI_REQ_NOAUTH) && (rc = bearer_of(c, bearer, sizeof bearer, &is_session)))
        return rc;
    const char *b = (flags & CLI_REQ_NOAUTH) || !bearer[0] ? NULL : bearer;
    if ((rc = send(c, method, path, ctype, body, body_len, b, c->extra_headers, resp))) return rc;
    if (resp->status == 401 && is_session) {
        json_t *j = NULL;
        int expired = bb_json_parse(resp->body, resp->body_len, 64, &j, NULL, 0) == 0 &&
                      !strcmp(bb_json_str(j, "code", ""), "token_expired");
        json_decref(j);
        if (expired) {
            bb_httpc_response_release(resp);
            if ((rc = refresh(c, bearer, 1))) return rc;
            snprintf(bearer, sizeof bearer, "%s",
                     bb_json_str(json_object_get(cli_profile(c), "auth"), "access_token", ""));
            return send(c, method, path, ctype, body, body_len, bearer, c->extra_headers, resp);
        }
    }
    return 0;
}

int cli_call(struct cli *c, const char *method, const char *path, const json_t *body,
             json_t **out)
{
    *out = NULL;
    char *text = NULL;
    if (body && !(text = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY)))
        return cli_fail(c, CLI_ESERVER, "nomem", "out of memory");
    struct bb_httpc_response resp;
    int rc = cli_request(c, method, path, text ? "application/json" : NULL, text,
                         text ? strlen(text) : 0, 0, &resp);
    free(text);
    if (rc) return rc;
    if (resp.status < 200 || resp.status >= 300) {
        rc = cli_fail_response(c, &resp);
        bb_httpc_response_release(&resp);
        return rc;
    }
    if (resp.body_len == 0) {
        *out = json_null();
    } else {
        char err[160];
        if (bb_json_parse(resp.body, resp.body_len, BB_JSON_DEPTH_CEILING, out, err, sizeof err))
            rc = cli_fail(c, CLI_ESERVER, "bad_answer", "%s %s: the answer is not JSON: %s",
                          method, path, err);
    }
    bb_httpc_response_release(&resp);
    return rc;
}
