/* commands.c — the command table (from cmds.h) and helpers shared by the command files. */
#include <string.h>
#include <strings.h>

#include "bndr.h"
#include "cmds.h"

#define BNDR_X_ENTRY(n, ar, fl, fk, lk, st) {#n, bndr_cmd_##n, ar, 0, fk, lk, st, NULL, NULL, 0, 0, fl, 0, 0},
struct bndr_cmd bndr_cmd_table[] = {BNDR_COMMANDS(BNDR_X_ENTRY)};
#undef BNDR_X_ENTRY
const size_t bndr_cmd_count = sizeof(bndr_cmd_table) / sizeof(bndr_cmd_table[0]);

/* Subcommands of the containers, as COMMAND LIST shows them ("client|kill"): only those bunder
 * implements, so COMMAND LIST compared with redis-server's names what is still missing. */
static const struct {
    const char *cmd, *subs;
} subcmd_table[] = {
    {"acl", "cat deluser dryrun genpass getuser help list load log save setuser users whoami"},
    {"client", "caching getname getredir help id info kill list no-evict pause reply setname "
               "tracking trackinginfo unblock unpause"},
    {"command", "count docs getkeys getkeysandflags help info list"},
    {"config", "get help resetstat rewrite set"},
    {"function", "delete dump flush help kill list load restore stats"},
    {"latency", "doctor graph help histogram history latest reset"},
    {"memory", "doctor help malloc-stats purge stats usage"},
    {"module", "help list load loadex unload"},
    {"object", "encoding freq help idletime refcount"},
    {"pubsub", "channels help numpat numsub shardchannels shardnumsub"},
    {"script", "debug exists flush help kill load"},
    {"slowlog", "get help len reset"},
    {"xgroup", "create createconsumer delconsumer destroy help setid"},
    {"xinfo", "consumers groups help stream"},
};

void bndr_cmd_table_init(void)
{
    for (size_t i = 0; i < bndr_cmd_count; i++) {
        struct bndr_cmd *c = &bndr_cmd_table[i];
        c->group = bndr_meta_group(c->name);
        for (size_t j = 0; j < sizeof subcmd_table / sizeof subcmd_table[0]; j++)
            if (!strcmp(subcmd_table[j].cmd, c->name) && !c->subcmds)
                c->subcmds = subcmd_table[j].subs;
        unsigned f = 0;
        for (const char *p = c->sflags; *p; p++) {
            switch (*p) {
            case 'W': f |= BNDR_CMD_WRITE; break;
            case 'R': f |= BNDR_CMD_READONLY; break;
            case 'M': f |= BNDR_CMD_DENYOOM; break;
            case 'A': f |= BNDR_CMD_ADMIN; break;
            case 'P': f |= BNDR_CMD_PUBSUB; break;
            case 'N': f |= BNDR_CMD_NOAUTH; break;
            case 'S': f |= BNDR_CMD_OKSUB; break;
            case 'X': f |= BNDR_CMD_NOMULTI; break;
            case 'F': f |= BNDR_CMD_FAST; break;
            case 'B': f |= BNDR_CMD_BLOCKING; break;
            }
        }
        c->flags = f;
    }
}

int bndr_argeq(const struct bndr_arg *a, const char *lit)
{
    size_t n = strlen(lit);
    return a->n == n && strncasecmp(a->p, lit, n) == 0;
}

int bndr_get_ll_or_reply(struct bndr_client *c, const struct bndr_arg *a, long long *out,
                         const char *msg)
{
    if (bndr_parse_ll(a->p, a->n, out) < 0) {
        bndr_add_error(c, msg ? msg : BNDR_ERR_NOTINT);
        return -1;
    }
    return 0;
}

int bndr_get_double_or_reply(struct bndr_client *c, const struct bndr_arg *a, double *out,
                             const char *msg)
{
    if (bndr_parse_double(a->p, a->n, out) < 0) {
        bndr_add_error(c, msg ? msg : BNDR_ERR_NOTFLOAT);
        return -1;
    }
    return 0;
}

int bndr_parse_cursor(struct bndr_client *c, const struct bndr_arg *a, uint64_t *out)
{
    /* cursors are unsigned 64-bit */
    if (a->n == 0 || a->n > 20) {
        bndr_add_error(c, "ERR invalid cursor");
        return -1;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < a->n; i++) {
        if (a->p[i] < '0' || a->p[i] > '9') {
            bndr_add_error(c, "ERR invalid cursor");
            return -1;
        }
        uint64_t d = (uint64_t)(a->p[i] - '0');
        if (v > (UINT64_MAX - d) / 10) {
            bndr_add_error(c, "ERR invalid cursor");
            return -1;
        }
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

int bndr_parse_scan_opts(struct bndr_client *c, int first, int allow_type,
                         struct bndr_scan_opts *o)
{
    o->pat = NULL;
    o->patn = 0;
    o->count = 10;
    o->type = -1;
    for (int i = first; i < c->argc; i += 2) {
        if (i + 1 >= c->argc) {
            bndr_add_error(c, BNDR_ERR_SYNTAX);
            return -1;
        }
        struct bndr_arg *v = &c->argv[i + 1];
        if (bndr_argeq(&c->argv[i], "match")) {
            o->pat = v->p;
            o->patn = v->n;
            if (o->patn == 1 && o->pat[0] == '*')
                o->pat = NULL;
        } else if (bndr_argeq(&c->argv[i], "count")) {
            if (bndr_get_ll_or_reply(c, v, &o->count, NULL) < 0)
                return -1;
            if (o->count < 1) {
                bndr_add_error(c, BNDR_ERR_SYNTAX);
                return -1;
            }
        } else if (allow_type && bndr_argeq(&c->argv[i], "type")) {
            static const char *names[] = {"string", "list", "set", "zset", "hash", "stream"};
            o->type = -2;
            for (int t = 0; t < 6; t++)
                if (bndr_argeq(v, names[t]))
                    o->type = t;
            if (o->type == -2)
                o->type = 99; /* unknown type: matches nothing, as Redis */
        } else {
            bndr_add_error(c, BNDR_ERR_SYNTAX);
            return -1;
        }
    }
    return 0;
}
