/* cmd_kv.c — the project's key-value store through the gateway's console routes
 * (/v1/projects/{projectId}/kv/{key}, keys percent-encoded: any byte works), and `redis-url`, a
 * ready redis-cli command for the same store over the Redis protocol (docs/bunder-manager.md:
 * AUTH <projectId> <sk_…>). */
#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define KEY_MAX 8192

static int kv_path(struct cli *c, const char *key, const char *query, char *path, size_t cap)
{
    char pid[256];
    char *ek = malloc(KEY_MAX * 3 + 1);
    const char *p = cli_project(c);
    int rc = 0;
    if (!ek) return CLI_ESERVER;
    if (!p || cli_pct_encode(p, strlen(p), pid, sizeof pid)) rc = cli_usage_error(c, "invalid project id");
    else if (!*key || strlen(key) > KEY_MAX || cli_pct_encode(key, strlen(key), ek, KEY_MAX * 3 + 1))
        rc = cli_usage_error(c, "a key is 1 to %d bytes", KEY_MAX);
    else if ((size_t)snprintf(path, cap, "/v1/projects/%s/kv/%s%s", pid, ek, query) >= cap)
        rc = cli_usage_error(c, "key too long");
    free(ek);
    return rc;
}

#define KV_PATH_CAP (KEY_MAX * 3 + 512)

int cmd_kv_get(struct cli *c)
{
    char *path = malloc(KV_PATH_CAP);
    if (!path) return CLI_ESERVER;
    struct bb_httpc_response resp;
    int rc = kv_path(c, c->argv[0], "", path, KV_PATH_CAP);
    if (!rc) rc = cli_request(c, "GET", path, NULL, NULL, 0, 0, &resp);
    free(path);
    if (rc) return rc;
    if (resp.status != 200) {
        rc = cli_fail_response(c, &resp);
    } else if (c->json) {
        json_t *o = json_pack("{s:s}", "key", c->argv[0]);
        cli_set_bytes(o, "value", "value_base64", resp.body, resp.body_len);
        cli_print_json(o);
        json_decref(o);
    } else {
        cli_write_raw(resp.body, resp.body_len);
    }
    bb_httpc_response_release(&resp);
    return rc;
}

int cmd_kv_set(struct cli *c)
{
    char query[64] = "";
    const char *ttl = cli_opt(c, "ttl");
    if (ttl) {
        char *end;
        long t = strtol(ttl, &end, 10);
        if (*end || t < 1 || t > 100L * 365 * 86400)
            return cli_usage_error(c, "--ttl: seconds, a positive integer");
        snprintf(query, sizeof query, "?ttl=%ld", t);
    }
    char *val = NULL;
    size_t len = 0;
    int rc = cli_arg_or_body(c, 1, "value", &val, &len);
    if (rc) return rc;
    char *path = malloc(KV_PATH_CAP);
    struct bb_httpc_response resp;
    rc = path ? kv_path(c, c->argv[0], query, path, KV_PATH_CAP) : CLI_ESERVER;
    if (!rc) rc = cli_request(c, "PUT", path, "application/octet-stream", val, len, 0, &resp);
    free(path);
    free(val);
    if (rc) return rc;
    if (resp.status < 200 || resp.status >= 300) rc = cli_fail_response(c, &resp);
    bb_httpc_response_release(&resp);
    if (rc) return rc;
    json_t *o = json_pack("{s:s,s:I}", "key", c->argv[0], "bytes", (json_int_t)len);
    if (ttl) json_object_set_new(o, "ttl", json_integer(strtol(ttl, NULL, 10)));
    cli_print_ok(c, o, "Set %s (%zu bytes%s%s%s).", c->argv[0], len, ttl ? ", expires in " : "",
                 ttl ? ttl : "", ttl ? " s" : "");
    return CLI_OK;
}

int cmd_kv_del(struct cli *c)
{
    char *path = malloc(KV_PATH_CAP);
    struct bb_httpc_response resp;
    int rc = path ? kv_path(c, c->argv[0], "", path, KV_PATH_CAP) : CLI_ESERVER;
    if (!rc) rc = cli_request(c, "DELETE", path, NULL, NULL, 0, 0, &resp);
    free(path);
    if (rc) return rc;
    if (resp.status < 200 || resp.status >= 300) rc = cli_fail_response(c, &resp);
    bb_httpc_response_release(&resp);
    if (rc) return rc;
    cli_print_ok(c, json_pack("{s:s}", "deleted", c->argv[0]), "Deleted %s.", c->argv[0]);
    return CLI_OK;
}

/* kv incr <key> [by]: POST …/kv/{key}/incr {"by"} — atomic, the new value printed */
int cmd_kv_incr(struct cli *c)
{
    long long by = 1;
    if (c->argc > 1) {
        char *end;
        by = strtoll(c->argv[1], &end, 10);
        if (!*c->argv[1] || *end) return cli_usage_error(c, "by: an integer");
    }
    char *path = malloc(KV_PATH_CAP);
    int rc = path ? kv_path(c, c->argv[0], "/incr", path, KV_PATH_CAP) : CLI_ESERVER;
    json_t *body = rc ? NULL : json_pack("{s:I}", "by", (json_int_t)by), *out = NULL;
    if (!rc) rc = cli_call(c, "POST", path, body, &out);
    free(path);
    json_decref(body);
    if (rc) return rc;
    json_int_t v = json_integer_value(json_object_get(out, "value"));
    if (c->json) {
        json_t *o = json_pack("{s:s,s:I}", "key", c->argv[0], "value", v);
        cli_print_json(o);
        json_decref(o);
    } else {
        printf("%lld\n", (long long)v);
    }
    json_decref(out);
    return CLI_OK;
}

/* a remaining TTL for humans: "none", "59m 59s", "2h 5m", "3d 1h" */
static void ttl_text(const json_t *ms, char *buf, size_t cap)
{
    if (!json_is_integer(ms)) {
        snprintf(buf, cap, "none");
        return;
    }
    long long s = (long long)json_integer_value(ms) / 1000;
    long long d = s / 86400, h = s % 86400 / 3600, m = s % 3600 / 60;
    if (d) snprintf(buf, cap, "%lldd %lldh", d, h);
    else if (h) snprintf(buf, cap, "%lldh %lldm", h, m);
    else if (m) snprintf(buf, cap, "%lldm %llds", m, s % 60);
    else snprintf(buf, cap, "%llds", s);
}

int cmd_kv_keys(struct cli *c)
{
    char pid[256], pat[3 * 1024 + 1], path[4096];
    const char *p = cli_project(c);
    const char *pattern = c->argc > 0 ? c->argv[0] : "*";
    int lng = cli_opt(c, "long") != NULL;
    if (cli_pct_encode(p, strlen(p), pid, sizeof pid) ||
        strlen(pattern) > 1024 || cli_pct_encode(pattern, strlen(pattern), pat, sizeof pat))
        return cli_usage_error(c, "pattern too long");
    snprintf(path, sizeof path, "/v1/projects/%s/kv?pattern=%s%s", pid, pat, lng ? "&meta=1" : "");
    json_t *keys = NULL;
    int rc = cli_call(c, "GET", path, NULL, &keys);
    if (rc) return rc;
    if (c->json) {
        cli_print_json(keys);
    } else if (lng) {
        /* KEY TYPE TTL, the TTL as text */
        for (size_t i = 0; i < json_array_size(keys); i++) {
            json_t *k = json_array_get(keys, i);
            char t[64];
            ttl_text(json_object_get(k, "ttl_ms"), t, sizeof t);
            json_object_set_new(k, "ttl", json_string(t));
        }
        static const char *const hd[] = {"KEY", "TYPE", "TTL"}, *const ks[] = {"key", "type", "ttl"};
        cli_print_table(keys, hd, ks, 3);
    } else {
        for (size_t i = 0; i < json_array_size(keys); i++)
            printf("%s\n", json_string_value(json_array_get(keys, i)));
    }
    json_decref(keys);
    return CLI_OK;
}

/* host part of the profile's URL ("http://host:port/..." -> "host"; IPv6 keeps its brackets). */
static void url_host(const char *url, char *out, size_t cap)
{
    const char *h = strstr(url, "://");
    h = h ? h + 3 : url;
    const char *at = strchr(h, '@');
    const char *slash = strchr(h, '/');
    if (at && (!slash || at < slash)) h = at + 1;
    size_t n;
    if (*h == '[') n = strcspn(h, "]") + 1;
    else n = strcspn(h, ":/");
    snprintf(out, cap, "%.*s", (int)n, h);
}

int cmd_redis_url(struct cli *c)
{
    const char *pid = cli_project(c);
    json_t *sks = json_object_get(cli_profile(c), "secret_keys");
    const char *sk = bb_json_str(sks, pid, NULL);
    if (!sk)
        return cli_fail(c, CLI_EAUTH, "no_secret_key",
                        "this CLI holds no secret key of project %s (keys are shown once): run "
                        "bunbase keys regenerate sk, which prints a new one and keeps a copy",
                        pid);
    char host[300], addr[400];
    const char *r = cli_opt(c, "redis");
    url_host(cli_base_url(c), host, sizeof host);
    if (!r) snprintf(addr, sizeof addr, "%s:6379", host);
    else if (!strchr(r, ':') || r[0] == ':') snprintf(addr, sizeof addr, "%s%s%s", host, r[0] == ':' ? "" : ":", r);
    else snprintf(addr, sizeof addr, "%s", r);
    for (const char *q = addr; *q; q++)
        if (*q == '\'' || *q == ' ' || (unsigned char)*q < 0x21)
            return cli_usage_error(c, "--redis: HOST:PORT or PORT");
    for (const char *q = sk; *q; q++)
        if (*q == '\'' || (unsigned char)*q < 0x21)
            return cli_fail(c, CLI_EUSAGE, "bad_config", "the stored secret key is malformed");
    /* the key goes in the environment (REDISCLI_AUTH), not on redis-cli's command line, where
     * other users of the machine could read it in the process list */
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "REDISCLI_AUTH='%s' redis-cli -u 'redis://%s' --user '%s'", sk, addr,
             pid);
    if (c->json) {
        char url[512];
        snprintf(url, sizeof url, "redis://%s", addr);
        json_t *o = json_pack("{s:s,s:s,s:s,s:s}", "url", url, "user", pid, "password", sk,
                              "command", cmd);
        cli_print_json(o);
        json_decref(o);
    } else {
        printf("%s\n", cmd);
    }
    return CLI_OK;
}
