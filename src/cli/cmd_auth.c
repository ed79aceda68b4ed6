/* cmd_auth.c — the project's end users (tenant auth, docs/tenant-auth.md "Administration"):
 * list, create, show, disable, enable and delete users, and read or replace the sign-in config,
 * through /v1/projects/{projectId}/auth/… as the developer. A user's password is never taken
 * from the command line: --password-stdin reads it (or none: the user resets it by mail). */
#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PASSWORD_MAX 1024

/* "/v1/projects/<pid>/auth<tail>", with an encoded user id when uid is given. */
static int auth_path(struct cli *c, const char *uid, const char *tail, char *out, size_t cap)
{
    char pid[256], eu[600];
    const char *p = cli_project(c);
    if (!p || cli_pct_encode(p, strlen(p), pid, sizeof pid))
        return cli_usage_error(c, "invalid project id");
    if (uid && (!*uid || cli_pct_encode(uid, strlen(uid), eu, sizeof eu)))
        return cli_usage_error(c, "invalid user id");
    if ((size_t)snprintf(out, cap, "/v1/projects/%s/auth%s%s%s", pid, uid ? "/users/" : "",
                         uid ? eu : "", tail) >= cap)
        return cli_usage_error(c, "argument too long");
    return 0;
}

static const char *const USER_H[] = {"ID", "EMAIL", "NAME", "VERIFIED", "DISABLED", "CREATED"};
static const char *const USER_K[] = {"id",       "email",     "name", "email_verified",
                                     "disabled", "created_at"};

int cmd_auth_users_list(struct cli *c)
{
    char q[2200] = "", path[2600];
    const char *limit = cli_opt(c, "limit"), *cursor = cli_opt(c, "cursor");
    if (limit) {
        char *end;
        long l = strtol(limit, &end, 10);
        if (*end || l < 1 || l > 1000) return cli_usage_error(c, "--limit: 1 to 1000");
        snprintf(q, sizeof q, "?limit=%ld", l);
    }
    if (cursor) {
        char ec[2048];
        if (cli_pct_encode(cursor, strlen(cursor), ec, sizeof ec))
            return cli_usage_error(c, "--cursor too long");
        size_t n = strlen(q);
        snprintf(q + n, sizeof q - n, "%scursor=%s", n ? "&" : "?", ec);
    }
    char tail[2300];
    snprintf(tail, sizeof tail, "/users%s", q);
    json_t *ans = NULL;
    int rc = auth_path(c, NULL, tail, path, sizeof path);
    if (rc || (rc = cli_call(c, "GET", path, NULL, &ans))) return rc;
    if (c->json) {
        cli_print_json(ans);
    } else {
        cli_print_table(json_object_get(ans, "users"), USER_H, USER_K, 6);
        const char *cur = bb_json_str(ans, "cursor", NULL);
        if (cur && *cur) fprintf(stderr, "more: --cursor %s\n", cur);
    }
    json_decref(ans);
    return CLI_OK;
}

static void print_user(struct cli *c, const json_t *u)
{
    if (c->json)
        cli_print_json(u);
    else
        cli_print_fields(u, USER_K, 6);
}

int cmd_auth_users_create(struct cli *c)
{
    json_t *body = json_pack("{s:s}", "email", c->argv[0]);
    const char *name = cli_opt(c, "name");
    if (name) json_object_set_new(body, "name", json_string(name));
    if (cli_opt(c, "verified")) json_object_set_new(body, "email_verified", json_true());
    if (cli_opt(c, "password-stdin")) {
        char *pw = NULL;
        size_t len = 0;
        int rc = cli_read_file("-", PASSWORD_MAX, &pw, &len);
        if (rc) {
            json_decref(body);
            return cli_fail(c, CLI_EUSAGE, "bad_input", "the password on stdin: at most %d bytes",
                            PASSWORD_MAX);
        }
        len = strcspn(pw, "\r\n"); /* the first line */
        if (len == 0) {
            free(pw);
            json_decref(body);
            return cli_usage_error(c, "--password-stdin: the first line of stdin is empty");
        }
        json_object_set_new(body, "password", json_stringn(pw, len));
        memset(pw, 0, strlen(pw));
        free(pw);
    }
    char path[512];
    json_t *ans = NULL;
    int rc = auth_path(c, NULL, "/users", path, sizeof path);
    if (!rc) rc = cli_call(c, "POST", path, body, &ans);
    json_decref(body);
    if (rc) return rc;
    if (c->json)
        print_user(c, ans);
    else
        printf("Created user %s (%s).\n", bb_json_str(ans, "email", c->argv[0]),
               bb_json_str(ans, "id", "-"));
    json_decref(ans);
    return CLI_OK;
}

int cmd_auth_users_get(struct cli *c)
{
    char path[1024];
    json_t *ans = NULL;
    int rc = auth_path(c, c->argv[0], "", path, sizeof path);
    if (rc || (rc = cli_call(c, "GET", path, NULL, &ans))) return rc;
    print_user(c, ans);
    json_decref(ans);
    return CLI_OK;
}

static int user_action(struct cli *c, const char *method, const char *tail, const char *what)
{
    char path[1024];
    json_t *ans = NULL;
    int rc = auth_path(c, c->argv[0], tail, path, sizeof path);
    json_t *body = strcmp(method, "POST") ? NULL : json_object();
    if (!rc) rc = cli_call(c, method, path, body, &ans);
    json_decref(body);
    if (rc) return rc;
    json_decref(ans);
    cli_print_ok(c, json_pack("{s:s,s:s}", "user", c->argv[0], "action", what), "User %s %s.",
                 c->argv[0], what);
    return CLI_OK;
}

int cmd_auth_users_disable(struct cli *c)
{
    return user_action(c, "POST", "/disable", "disabled");
}

int cmd_auth_users_enable(struct cli *c)
{
    return user_action(c, "POST", "/enable", "enabled");
}

int cmd_auth_users_delete(struct cli *c)
{
    return user_action(c, "DELETE", "", "deleted");
}

int cmd_auth_config_get(struct cli *c)
{
    char path[512];
    json_t *ans = NULL;
    int rc = auth_path(c, NULL, "/config", path, sizeof path);
    if (rc || (rc = cli_call(c, "GET", path, NULL, &ans))) return rc;
    cli_print_pretty(c, ans);
    json_decref(ans);
    return CLI_OK;
}

int cmd_auth_config_set(struct cli *c)
{
    char *text = NULL;
    size_t len = 0;
    int rc = cli_arg_or_body(c, 0, "config", &text, &len);
    if (rc) return rc;
    json_t *cfg = NULL;
    char err[160];
    rc = bb_json_parse(text, len, BB_JSON_DEFAULT_DEPTH, &cfg, err, sizeof err);
    free(text);
    if (rc) return cli_fail(c, CLI_EUSAGE, "bad_input", "config: invalid JSON: %s", err);
    if (!json_is_object(cfg)) {
        json_decref(cfg);
        return cli_usage_error(c, "the config is a JSON object of sections, e.g. "
                                  "'{\"providers\":{\"email_password\":{\"enabled\":true}}}'");
    }
    char path[512];
    json_t *ans = NULL;
    rc = auth_path(c, NULL, "/config", path, sizeof path);
    if (!rc) rc = cli_call(c, "PUT", path, cfg, &ans);
    json_decref(cfg);
    if (rc) return rc;
    if (c->json)
        cli_print_json(ans);
    else
        printf("Auth config updated.\n");
    json_decref(ans);
    return CLI_OK;
}
