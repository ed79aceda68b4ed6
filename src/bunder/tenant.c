/* tenant.c — applies the tenant policy of bunder_tenant.h (one table, shared with bunder-manager).
 *
 * A client is a tenant (BNDR_CF_TENANT) when bunder-manager handed its socket over (handoff.c)
 * or when it logged in as BUNDER_TENANT_USER (the manager's relay). The flag is sticky: no AUTH,
 * HELLO or RESET clears it. The dispatcher asks bndr_tenant_refuse before running any command of
 * a tenant; CONFIG GET/SET ask bndr_tenant_hidden / bndr_tenant_settable per parameter. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "bndr.h"
#include "bunder_tenant.h"

struct tenant_rule {
    enum bunder_tenant_kind kind;
    const char *name;
};

#define BNDR_X_RULE(k, n, why) {k, n},
static const struct tenant_rule rules[] = {BUNDER_TENANT_POLICY(BNDR_X_RULE)};
#undef BNDR_X_RULE
static const size_t nrules = sizeof rules / sizeof rules[0];

static int eq(const char *lit, size_t litn, const char *p, size_t n)
{
    return litn == n && strncasecmp(lit, p, n) == 0;
}

/* SHUTDOWN NOSAVE while a script is busy: a script that wrote cannot be killed (SCRIPT KILL
 * refuses it, as in Redis), and this is the only way out of one that never ends — for a tenant
 * too, or its own script would pin the project's process forever. The process exits without
 * saving the script's effects and bunder-manager restarts it from disk. */
static int busy_way_out(int argc, const struct bndr_arg *argv)
{
    if (!bndr_script_busy() || !eq("shutdown", 8, argv[0].p, argv[0].n))
        return 0;
    for (int i = 1; i < argc; i++)
        if (eq("nosave", 6, argv[i].p, argv[i].n))
            return 1;
    return 0;
}

/* A filter in front of the table scan, so that a tenant's ordinary command (SET, GET …) costs
 * two loads instead of a walk over every row with strlen/strncasecmp (3-5 % of a handed-off
 * client's CPU at -P 16 in bench/bunder-manager). Bit (name length & 31, first byte & 31) is set
 * for the command part of every COMMAND and SUBCOMMAND row. A name that equals a row's
 * case-insensitively has the same length and the same first byte up to case ('A' ^ 'a' is
 * 0x20, which & 31 drops), so the same key: the filter only says "maybe", never a wrong "no". */
static uint32_t refuse_filter[32];
static pthread_once_t refuse_filter_once = PTHREAD_ONCE_INIT;

static size_t rule_cmd_len(const struct tenant_rule *r)
{
    const char *bar = r->kind == BUNDER_TP_SUBCOMMAND ? strchr(r->name, '|') : NULL;
    return bar ? (size_t)(bar - r->name) : strlen(r->name);
}

static void refuse_filter_build(void)
{
    for (size_t i = 0; i < nrules; i++)
        if (rules[i].kind == BUNDER_TP_COMMAND || rules[i].kind == BUNDER_TP_SUBCOMMAND)
            refuse_filter[rule_cmd_len(&rules[i]) & 31] |=
                1u << ((unsigned char)rules[i].name[0] & 31);
}

int bndr_tenant_refuse(int argc, const struct bndr_arg *argv, char *msg, size_t cap)
{
    if (argc < 1 || argv[0].n == 0)
        return 0;
    pthread_once(&refuse_filter_once, refuse_filter_build);
    if (!(refuse_filter[argv[0].n & 31] & (1u << ((unsigned char)argv[0].p[0] & 31))))
        return 0;
    for (size_t i = 0; i < nrules; i++) {
        const struct tenant_rule *r = &rules[i];
        if (r->kind == BUNDER_TP_COMMAND) {
            if (eq(r->name, strlen(r->name), argv[0].p, argv[0].n)) {
                if (busy_way_out(argc, argv))
                    continue;
                snprintf(msg, cap, "NOPERM this user has no permissions to run the '%s' command",
                         r->name);
                return 1;
            }
        } else if (r->kind == BUNDER_TP_SUBCOMMAND && argc >= 2) {
            const char *bar = strchr(r->name, '|');
            size_t cn = (size_t)(bar - r->name);
            if (eq(r->name, cn, argv[0].p, argv[0].n) &&
                eq(bar + 1, strlen(bar + 1), argv[1].p, argv[1].n)) {
                snprintf(msg, cap, "NOPERM this user has no permissions to run the '%s' command",
                         r->name);
                return 1;
            }
        }
    }
    return 0;
}

static int has_rule(enum bunder_tenant_kind kind, const char *name)
{
    for (size_t i = 0; i < nrules; i++)
        if (rules[i].kind == kind && !strcasecmp(rules[i].name, name)) return 1;
    return 0;
}

int bndr_tenant_hidden(const char *param)
{
    return has_rule(BUNDER_TP_HIDDEN, param);
}

int bndr_tenant_settable(const char *param)
{
    return has_rule(BUNDER_TP_SETTABLE, param);
}
