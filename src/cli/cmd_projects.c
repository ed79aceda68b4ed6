/* cmd_projects.c — projects, members and keys (docs/platform.md's routes). */
#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* "/v1/projects/<pid-encoded><suffix>" into buf; 0 or a usage error. */
static int project_path(struct cli *c, const char *pid, const char *suffix, char *buf, size_t cap)
{
    char enc[256];
    if (!pid || cli_pct_encode(pid, strlen(pid), enc, sizeof enc))
        return cli_usage_error(c, "invalid project id");
    if ((size_t)snprintf(buf, cap, "/v1/projects/%s%s", enc, suffix) >= cap)
        return cli_usage_error(c, "argument too long");
    return 0;
}

/* Saves the project's secret key (when the answer carries one) and, when make_default, the
 * project as the profile's default. */
static int remember(struct cli *c, const char *pid, const char *sk, int make_default)
{
    int rc = cli_config_begin(c);
    if (rc) return rc;
    json_t *p = cli_profile(c);
    if (make_default) json_object_set_new(p, "project", json_string(pid));
    if (sk) {
        json_t *sks = json_object_get(p, "secret_keys");
        if (!json_is_object(sks)) {
            sks = json_object();
            json_object_set_new(p, "secret_keys", sks);
        }
        json_object_set_new(sks, pid, json_string(sk));
    }
    return cli_config_commit(c);
}

int cmd_projects_list(struct cli *c)
{
    json_t *list = NULL;
    int rc = cli_call(c, "GET", "/v1/projects", NULL, &list);
    if (rc) return rc;
    const char *def = bb_json_str(cli_profile(c), "project", "");
    for (size_t i = 0; i < json_array_size(list); i++) {
        json_t *p = json_array_get(list, i);
        json_object_set_new(p, "default", json_boolean(!strcmp(bb_json_str(p, "id", ""), def)));
    }
    if (c->json) {
        cli_print_json(list);
    } else {
        for (size_t i = 0; i < json_array_size(list); i++) {
            json_t *p = json_array_get(list, i);
            json_object_set_new(p, "mark", json_string(json_is_true(json_object_get(p, "default"))
                                                           ? "*"
                                                           : ""));
        }
        static const char *const h[] = {"DEFAULT", "ID", "NAME", "SLUG", "ROLE", "CREATED"};
        static const char *const k[] = {"mark", "id", "name", "slug", "role", "created_at"};
        cli_print_table(list, h, k, 6);
    }
    json_decref(list);
    return CLI_OK;
}

int cmd_projects_create(struct cli *c)
{
    json_t *body = json_pack("{s:s}", "name", c->argv[0]);
    if (cli_opt(c, "slug")) json_object_set_new(body, "slug", json_string(cli_opt(c, "slug")));
    json_t *p = NULL;
    int rc = cli_call(c, "POST", "/v1/projects", body, &p);
    json_decref(body);
    if (rc) return rc;
    const char *pid = bb_json_str(p, "id", NULL);
    const char *sk = NULL;
    json_t *keys = json_object_get(p, "keys");
    for (size_t i = 0; i < json_array_size(keys); i++)
        if (!strcmp(bb_json_str(json_array_get(keys, i), "kind", ""), "sk"))
            sk = bb_json_str(json_array_get(keys, i), "key", NULL);
    if (!pid) {
        json_decref(p);
        return cli_fail(c, CLI_ESERVER, "bad_answer", "projects create: no id in the answer");
    }
    if ((rc = remember(c, pid, sk, 1))) {
        json_decref(p);
        return rc;
    }
    if (c->json) {
        cli_print_json(p);
    } else {
        printf("Created project %s (%s); it is now the default project of profile %s.\n",
               bb_json_str(p, "name", ""), pid, c->profile);
        printf("Its keys are shown this once (the secret key is also kept in the CLI config, "
               "for bunbase redis-url):\n\n");
        static const char *const h[] = {"KIND", "KEY", "ID"};
        static const char *const k[] = {"kind", "key", "id"};
        cli_print_table(keys, h, k, 3);
    }
    json_decref(p);
    return CLI_OK;
}

int cmd_projects_use(struct cli *c)
{
    char path[512];
    int rc = project_path(c, c->argv[0], "", path, sizeof path);
    if (rc) return rc;
    json_t *p = NULL;
    if ((rc = cli_call(c, "GET", path, NULL, &p))) return rc;
    if ((rc = remember(c, c->argv[0], NULL, 1))) {
        json_decref(p);
        return rc;
    }
    cli_print_ok(c, json_pack("{s:O}", "project", p),
                 "Project %s (%s) is now the default of profile %s.", bb_json_str(p, "name", ""),
                 c->argv[0], c->profile);
    json_decref(p);
    return CLI_OK;
}

int cmd_projects_delete(struct cli *c)
{
    if (!cli_opt(c, "yes"))
        return cli_usage_error(c, "deleting a project removes its data: add --yes to confirm");
    char path[512];
    int rc = project_path(c, c->argv[0], "", path, sizeof path);
    if (rc) return rc;
    json_t *ans = NULL;
    if ((rc = cli_call(c, "DELETE", path, NULL, &ans))) return rc;
    if ((rc = cli_config_begin(c)) == 0) {
        json_t *prof = cli_profile(c);
        if (!strcmp(bb_json_str(prof, "project", ""), c->argv[0]))
            json_object_del(prof, "project");
        json_object_del(json_object_get(prof, "secret_keys"), c->argv[0]);
        rc = cli_config_commit(c);
    }
    if (c->json) {
        cli_print_json(ans);
    } else {
        json_t *r = json_object_get(ans, "removed");
        printf("Deleted project %s (database: %s, kv: %s).\n", c->argv[0],
               bb_json_str(r, "database", "?"), bb_json_str(r, "kv", "?"));
    }
    json_decref(ans);
    return rc;
}

/* ---- members */

int cmd_members_list(struct cli *c)
{
    char path[512];
    int rc = project_path(c, cli_project(c), "/members", path, sizeof path);
    json_t *list = NULL;
    if (rc || (rc = cli_call(c, "GET", path, NULL, &list))) return rc;
    if (c->json) {
        cli_print_json(list);
    } else {
        static const char *const h[] = {"USER_ID", "EMAIL", "NAME", "ROLE", "ADDED"};
        static const char *const k[] = {"user_id", "email", "name", "role", "created_at"};
        cli_print_table(list, h, k, 5);
    }
    json_decref(list);
    return CLI_OK;
}

int cmd_members_add(struct cli *c)
{
    char path[512];
    int rc = project_path(c, cli_project(c), "/members", path, sizeof path);
    if (rc) return rc;
    json_t *body = json_pack("{s:s}", "email", c->argv[0]);
    if (cli_opt(c, "role")) json_object_set_new(body, "role", json_string(cli_opt(c, "role")));
    json_t *m = NULL;
    rc = cli_call(c, "POST", path, body, &m);
    json_decref(body);
    if (rc) return rc;
    if (c->json) cli_print_json(m);
    else printf("Added %s as %s.\n", c->argv[0], bb_json_str(m, "role", "member"));
    json_decref(m);
    return CLI_OK;
}

/* /v1/projects/P/members/<user id> for a user id or a member's email. */
static int member_path(struct cli *c, const char *who, char *path, size_t cap)
{
    char base[512];
    int rc = project_path(c, cli_project(c), "/members", base, sizeof base);
    if (rc) return rc;
    char uid[256];
    snprintf(uid, sizeof uid, "%s", who);
    if (strchr(who, '@')) {
        json_t *list = NULL;
        if ((rc = cli_call(c, "GET", base, NULL, &list))) return rc;
        uid[0] = 0;
        for (size_t i = 0; i < json_array_size(list); i++)
            if (!strcasecmp(bb_json_str(json_array_get(list, i), "email", ""), who))
                snprintf(uid, sizeof uid, "%s", bb_json_str(json_array_get(list, i), "user_id", ""));
        json_decref(list);
        if (!uid[0])
            return cli_fail(c, CLI_ENOTFOUND, "member_not_found", "%s is not a member", who);
    }
    char enc[768];
    if (cli_pct_encode(uid, strlen(uid), enc, sizeof enc) ||
        (size_t)snprintf(path, cap, "%s/%s", base, enc) >= cap)
        return cli_usage_error(c, "invalid user id");
    return 0;
}

int cmd_members_role(struct cli *c)
{
    char path[1400];
    int rc = member_path(c, c->argv[0], path, sizeof path);
    if (rc) return rc;
    json_t *body = json_pack("{s:s}", "role", c->argv[1]);
    json_t *m = NULL;
    rc = cli_call(c, "PATCH", path, body, &m);
    json_decref(body);
    if (rc) return rc;
    if (c->json) cli_print_json(m);
    else printf("%s is now %s.\n", c->argv[0], c->argv[1]);
    json_decref(m);
    return CLI_OK;
}

int cmd_members_remove(struct cli *c)
{
    char path[1400];
    int rc = member_path(c, c->argv[0], path, sizeof path);
    json_t *m = NULL;
    if (rc || (rc = cli_call(c, "DELETE", path, NULL, &m))) return rc;
    json_decref(m);
    cli_print_ok(c, json_pack("{s:s}", "removed", c->argv[0]), "Removed %s.", c->argv[0]);
    return CLI_OK;
}

/* ---- keys */

int cmd_keys_list(struct cli *c)
{
    char path[512];
    int rc = project_path(c, cli_project(c), "/keys", path, sizeof path);
    json_t *list = NULL;
    if (rc || (rc = cli_call(c, "GET", path, NULL, &list))) return rc;
    if (c->json) {
        cli_print_json(list);
    } else {
        static const char *const h[] = {"ID", "KIND", "PREFIX", "CREATED"};
        static const char *const k[] = {"id", "kind", "prefix", "created_at"};
        cli_print_table(list, h, k, 4);
    }
    json_decref(list);
    return CLI_OK;
}

int cmd_keys_regenerate(struct cli *c)
{
    char pid[256]; /* a copy: remember() re-reads the config, which frees the old one */
    snprintf(pid, sizeof pid, "%s", cli_project(c));
    char base[512], path[1024];
    int rc = project_path(c, pid, "/keys", base, sizeof base);
    if (rc) return rc;
    char id[128];
    snprintf(id, sizeof id, "%s", c->argv[0]);
    if (!strcmp(id, "pk") || !strcmp(id, "sk")) {
        json_t *list = NULL;
        if ((rc = cli_call(c, "GET", base, NULL, &list))) return rc;
        int n = 0;
        for (size_t i = 0; i < json_array_size(list); i++)
            if (!strcmp(bb_json_str(json_array_get(list, i), "kind", ""), c->argv[0])) {
                snprintf(id, sizeof id, "%s", bb_json_str(json_array_get(list, i), "id", ""));
                n++;
            }
        json_decref(list);
        if (n == 0)
            return cli_fail(c, CLI_ENOTFOUND, "key_not_found", "no active %s key", c->argv[0]);
        if (n > 1)
            return cli_usage_error(c, "%d active %s keys: name one by id (bunbase keys list)", n,
                                   c->argv[0]);
    }
    char enc[400];
    if (cli_pct_encode(id, strlen(id), enc, sizeof enc)) return cli_usage_error(c, "invalid key id");
    snprintf(path, sizeof path, "%s/%s/regenerate", base, enc);
    json_t *k = NULL, *empty = json_object();
    rc = cli_call(c, "POST", path, empty, &k);
    json_decref(empty);
    if (rc) return rc;
    const char *kind = bb_json_str(k, "kind", "");
    const char *key = bb_json_str(k, "key", "");
    int is_sk = !strcmp(kind, "sk");
    if (is_sk && (rc = remember(c, pid, key, 0))) {
        json_decref(k);
        return rc;
    }
    if (c->json) {
        cli_print_json(k);
    } else {
        printf("%s\n", key);
        fprintf(stderr,
                "New %s key %s (replaces %s). This is the only time it is shown: store it now%s.\n",
                kind, bb_json_str(k, "id", ""), bb_json_str(k, "replaces", id),
                is_sk ? " (the CLI keeps a copy in its config for bunbase redis-url)" : "");
    }
    json_decref(k);
    return CLI_OK;
}
