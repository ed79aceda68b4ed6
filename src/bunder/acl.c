/* acl.c — ACL users besides `default`: ACL SETUSER/GETUSER/DELUSER/LIST/USERS/WHOAMI/CAT/HELP,
 * AUTH <user> <pass>, and the command / key permission check the dispatcher runs for a client
 * logged in as such a user (server.c). The `default` user stays what requirepass makes it (every
 * command, every key), and bunder-manager's tenant user keeps the tenant policy
 * (bunder_tenant.h), which refuses ACL itself to tenants.
 *
 * A user: on/off, passwords as SHA-256 (">pass" adds, "<pass" removes, "#hex"/"!hex" by hash,
 * nopass, resetpass), the commands it may run (one bit per command of the table, changed by
 * +cmd -cmd +@category -@category allcommands nocommands; "+cmd|sub" allows the whole command),
 * the key patterns it may touch (~pattern, allkeys, resetkeys; checked against every key position
 * of the command table), channels (&pattern, allchannels, resetchannels: kept and reported, not
 * enforced), and `reset`. The rule string GETUSER/LIST report starts with +@all or -@all followed
 * by the rules applied since, as Redis 7.0 prints the common cases. Users live in memory only
 * (no aclfile, as Redis without one): they are lost on restart, like Redis' without ACL SAVE.
 * Bounds: at most 1024 users, 64 passwords and 256 key patterns per user.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bb_crypto.h"
#include "bndr.h"
#include "bunder_tenant.h"
#include "cmds.h"

#define ACL_MAX_USERS 1024
#define ACL_MAX_PASS 64
#define ACL_MAX_PATTERNS 256

struct acl_user {
    char *name;
    int on, nopass, allkeys, allchannels;
    uint8_t (*hashes)[BB_SHA256_LEN];
    int nhashes;
    char **keys; /* patterns */
    int nkeys;
    char **chans;
    int nchans;
    uint8_t *allowed; /* one byte per bndr_cmd_table entry */
    struct bndr_buf rules; /* "+@all -set" …, NUL-terminated */
};

static struct bndr_dict users; /* name -> struct acl_user * */
static int users_init;

/* ---------------------------------------------------------------- categories */
static const char *const cat_names[] = {
    "keyspace", "read",   "write",     "set",       "sortedset", "list",      "hash",
    "string",   "bitmap", "hyperloglog", "geo",     "stream",    "pubsub",    "admin",
    "fast",     "slow",   "blocking",  "dangerous", "connection", "transaction", "scripting",
    NULL};

static int cat_index(const char *p, size_t n)
{
    for (int i = 0; cat_names[i]; i++)
        if (strlen(cat_names[i]) == n && !strncasecmp(cat_names[i], p, n))
            return i;
    if (n == 3 && !strncasecmp(p, "all", 3))
        return 100;
    return -1;
}

/* The keys of a command line as Redis' ACL checks them (the key specs and key procedures of
 * Redis 7.0's metadata, cmd_meta.c); the command table's first/last/step when it has none.
 * Returns the count; *pos allocated when > 0. */
static int key_positions(const struct bndr_cmd *cmd, int argc, const struct bndr_arg *argv, int **pos)
{
    int n = bndr_meta_keys(argc, argv, pos);
    if (n >= 0)
        return n;
    *pos = NULL;
    if (cmd->first_key <= 0) return 0;
    int last = cmd->last_key < 0 ? argc + cmd->last_key : cmd->last_key;
    *pos = bndr_malloc((size_t)(argc + 1) * sizeof **pos);
    n = 0;
    for (int i = cmd->first_key; i <= last && i < argc; i += cmd->step) (*pos)[n++] = i;
    if (!n) {
        bndr_free(*pos);
        *pos = NULL;
    }
    return n;
}

/* Calls f(name, arg) for the command and each subcommand bunder implements ("container|sub");
 * stops at the first non-zero answer and returns it. */
static int each_name(const struct bndr_cmd *cmd, int (*f)(const char *, size_t, void *), void *arg)
{
    int r = f(cmd->name, strlen(cmd->name), arg);
    for (const char *p = cmd->subcmds; !r && p && *p;) {
        size_t l = strcspn(p, " ");
        char full[96];
        int fl = snprintf(full, sizeof full, "%s|%.*s", cmd->name, (int)l, p);
        r = f(full, (size_t)fl, arg);
        p += l;
        while (*p == ' ') p++;
    }
    return r;
}

static int meta_cat(const char *name, size_t n, void *cat)
{
    return bndr_meta_in_cat(name, n, (const char *)cat) == 1;
}

/* The ACL categories are Redis 7.0's (commands_meta.inc): a command is in a category when it or
 * one of its subcommands is (bunder's permissions are per command; every command has its row,
 * bunder_command.test.mjs checks). */
static int cmd_in_cat(const struct bndr_cmd *cmd, int cat)
{
    return each_name(cmd, meta_cat, (void *)cat_names[cat]);
}

/* ---------------------------------------------------------------- users */
static void user_free(struct acl_user *u)
{
    for (int i = 0; i < u->nkeys; i++) bndr_free(u->keys[i]);
    for (int i = 0; i < u->nchans; i++) bndr_free(u->chans[i]);
    bndr_free(u->keys);
    bndr_free(u->chans);
    bndr_free(u->hashes);
    bndr_free(u->allowed);
    bndr_free(u->rules.p);
    bndr_free(u->name);
    bndr_free(u);
}

static void rules_reset(struct acl_user *u, int all)
{
    u->rules.len = 0;
    bndr_buf_add(&u->rules, all ? "+@all" : "-@all", 6);
    memset(u->allowed, all ? 1 : 0, bndr_cmd_count);
}

static void rules_add(struct acl_user *u, const char *r, size_t n)
{
    u->rules.len--; /* the NUL */
    bndr_buf_add(&u->rules, " ", 1);
    bndr_buf_add(&u->rules, r, n);
    bndr_buf_add(&u->rules, "", 1);
}

static void user_reset(struct acl_user *u)
{
    u->on = 0;
    u->nopass = 0;
    u->nhashes = 0;
    for (int i = 0; i < u->nkeys; i++) bndr_free(u->keys[i]);
    for (int i = 0; i < u->nchans; i++) bndr_free(u->chans[i]);
    u->nkeys = u->nchans = 0;
    u->allkeys = u->allchannels = 0;
    rules_reset(u, 0);
}

static struct acl_user *user_get(const char *p, size_t n)
{
    if (!users_init) return NULL;
    struct bndr_de *e = bndr_dict_find(&users, p, n);
    return e ? e->v.p : NULL;
}

static int hex2bin(const char *p, size_t n, uint8_t out[BB_SHA256_LEN])
{
    if (n != 2 * BB_SHA256_LEN) return -1;
    for (size_t i = 0; i < BB_SHA256_LEN; i++) {
        int v = 0;
        for (int k = 0; k < 2; k++) {
            char ch = p[2 * i + (size_t)k];
            int d = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
            if (d < 0) return -1;
            v = v * 16 + d;
        }
        out[i] = (uint8_t)v;
    }
    return 0;
}

static int add_str(char ***arr, int *n, const char *p, size_t len)
{
    for (int i = 0; i < *n; i++)
        if (strlen((*arr)[i]) == len && !memcmp((*arr)[i], p, len)) return 0;
    if (*n >= ACL_MAX_PATTERNS) return -1;
    *arr = bndr_realloc(*arr, (size_t)(*n + 1) * sizeof **arr);
    (*arr)[(*n)++] = bndr_memdup(p, len);
    return 0;
}

/* Applies one rule; 0, or -1 with Redis' error text in err. */
static int apply_rule(struct acl_user *u, const char *r, size_t n, char *err, size_t cap)
{
#define IS(lit) (n == sizeof(lit) - 1 && !strncasecmp(r, lit, n))
    if (IS("on")) u->on = 1;
    else if (IS("off")) u->on = 0;
    else if (IS("nopass")) { u->nopass = 1; u->nhashes = 0; }
    else if (IS("resetpass")) { u->nopass = 0; u->nhashes = 0; }
    else if (IS("allkeys") || (n == 2 && r[0] == '~' && r[1] == '*')) { u->allkeys = 1; }
    else if (IS("resetkeys")) {
        for (int i = 0; i < u->nkeys; i++) bndr_free(u->keys[i]);
        u->nkeys = 0;
        u->allkeys = 0;
    } else if (IS("allchannels") || (n == 2 && r[0] == '&' && r[1] == '*')) { u->allchannels = 1; }
    else if (IS("resetchannels")) {
        for (int i = 0; i < u->nchans; i++) bndr_free(u->chans[i]);
        u->nchans = 0;
        u->allchannels = 0;
    } else if (IS("allcommands")) rules_reset(u, 1);
    else if (IS("nocommands")) rules_reset(u, 0);
    else if (IS("reset")) {
        user_reset(u);
        u->nopass = 0;
    } else if (n >= 1 && (r[0] == '>' || r[0] == '<' || r[0] == '#' || r[0] == '!')) {
        uint8_t h[BB_SHA256_LEN];
        if (r[0] == '>' || r[0] == '<') {
            bb_sha256(r + 1, n - 1, h);
        } else if (hex2bin(r + 1, n - 1, h) < 0) {
            snprintf(err, cap, "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters");
            return -1;
        }
        int at = -1;
        for (int i = 0; i < u->nhashes; i++)
            if (!memcmp(u->hashes[i], h, BB_SHA256_LEN)) at = i;
        if (r[0] == '>' || r[0] == '#') {
            if (at < 0) {
                if (u->nhashes >= ACL_MAX_PASS) {
                    snprintf(err, cap, "too many passwords for one user");
                    return -1;
                }
                u->hashes = bndr_realloc(u->hashes, (size_t)(u->nhashes + 1) * sizeof *u->hashes);
                memcpy(u->hashes[u->nhashes++], h, BB_SHA256_LEN);
            }
            u->nopass = 0;
        } else {
            if (at < 0) {
                snprintf(err, cap, "no such password");
                return -1;
            }
            memmove(u->hashes[at], u->hashes[at + 1], (size_t)(u->nhashes - at - 1) * BB_SHA256_LEN);
            u->nhashes--;
        }
    } else if (n >= 1 && r[0] == '~') {
        if (u->allkeys) {
            snprintf(err, cap, "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start with an empty list of patterns");
            return -1;
        }
        if (add_str(&u->keys, &u->nkeys, r + 1, n - 1) < 0) {
            snprintf(err, cap, "too many key patterns");
            return -1;
        }
    } else if (n >= 1 && r[0] == '&') {
        if (u->allchannels) {
            snprintf(err, cap, "Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not have any effect. Try 'resetchannels' to start with an empty list of channels");
            return -1;
        }
        if (add_str(&u->chans, &u->nchans, r + 1, n - 1) < 0) {
            snprintf(err, cap, "too many channel patterns");
            return -1;
        }
    } else if (n >= 2 && (r[0] == '+' || r[0] == '-')) {
        int allow = r[0] == '+';
        if (r[1] == '@') {
            int cat = cat_index(r + 2, n - 2);
            if (cat < 0) {
                snprintf(err, cap, "Unknown command or category name in ACL");
                return -1;
            }
            if (cat == 100) {
                rules_reset(u, allow);
                return 0;
            }
            for (size_t i = 0; i < bndr_cmd_count; i++)
                if (cmd_in_cat(&bndr_cmd_table[i], cat)) u->allowed[i] = (uint8_t)allow;
        } else {
            size_t cn = n - 1;
            const char *bar = memchr(r + 1, '|', n - 1);
            if (bar) cn = (size_t)(bar - (r + 1));
            const struct bndr_cmd *cmd = bndr_cmd_lookup(r + 1, cn);
            if (!cmd || (bar && !allow)) {
                snprintf(err, cap, "Unknown command or category name in ACL");
                return -1;
            }
            u->allowed[cmd - bndr_cmd_table] = (uint8_t)allow;
        }
        char low[128];
        size_t ln = n < sizeof low ? n : sizeof low - 1;
        for (size_t i = 0; i < ln; i++) low[i] = (char)((r[i] >= 'A' && r[i] <= 'Z') ? r[i] + 32 : r[i]);
        rules_add(u, low, ln);
    } else {
        snprintf(err, cap, "Syntax error");
        return -1;
    }
    return 0;
#undef IS
}

static struct acl_user *user_new(const char *p, size_t n)
{
    struct acl_user *u = bndr_calloc(sizeof *u);
    u->name = bndr_memdup(p, n);
    u->allowed = bndr_calloc(bndr_cmd_count);
    rules_reset(u, 0);
    return u;
}

/* A copy, so a SETUSER whose rules fail leaves the user as it was (as Redis). */
static struct acl_user *user_clone(const struct acl_user *o)
{
    struct acl_user *u = user_new(o->name, strlen(o->name));
    u->on = o->on;
    u->nopass = o->nopass;
    u->allkeys = o->allkeys;
    u->allchannels = o->allchannels;
    if (o->nhashes) {
        u->hashes = bndr_malloc((size_t)o->nhashes * sizeof *u->hashes);
        memcpy(u->hashes, o->hashes, (size_t)o->nhashes * sizeof *u->hashes);
        u->nhashes = o->nhashes;
    }
    for (int i = 0; i < o->nkeys; i++) add_str(&u->keys, &u->nkeys, o->keys[i], strlen(o->keys[i]));
    for (int i = 0; i < o->nchans; i++) add_str(&u->chans, &u->nchans, o->chans[i], strlen(o->chans[i]));
    memcpy(u->allowed, o->allowed, bndr_cmd_count);
    u->rules.len = 0;
    bndr_buf_add(&u->rules, o->rules.p, o->rules.len);
    return u;
}

/* ---------------------------------------------------------------- AUTH and the check */
int bndr_acl_auth(struct bndr_client *c, const struct bndr_arg *user, const struct bndr_arg *pass)
{
    struct acl_user *u = user_get(user->p, user->n);
    if (!u || !u->on) return 0;
    uint8_t h[BB_SHA256_LEN];
    bb_sha256(pass->p, pass->n, h);
    int ok = u->nopass;
    for (int i = 0; i < u->nhashes; i++) ok |= bb_ct_equal(u->hashes[i], h, BB_SHA256_LEN);
    if (!ok) return 0;
    c->acl_user = u;
    return 1;
}

const char *bndr_acl_user_name(const struct bndr_client *c)
{
    const struct acl_user *u = c->acl_user;
    return u ? u->name : "default";
}

int bndr_acl_refuse(struct bndr_client *c, const struct bndr_cmd *cmd, char *msg, size_t cap)
{
    struct acl_user *u = c->acl_user;
    if (!u || (cmd->flags & BNDR_CMD_NOAUTH)) /* AUTH, HELLO, QUIT, RESET: always */
        return 0;
    if (!u->allowed[cmd - bndr_cmd_table]) {
        /* a container's subcommand is named "cmd|sub", as Redis */
        const char *subs = cmd->subcmds;
        int named = 0;
        for (const char *q = subs; q && *q && c->argc > 1 && !named;) {
            size_t l = strcspn(q, " ");
            if (l == c->argv[1].n && !strncasecmp(q, c->argv[1].p, l)) {
                snprintf(msg, cap, "NOPERM this user has no permissions to run the '%s|%.*s' command",
                         cmd->name, (int)l, q);
                named = 1;
            }
            q += l;
            while (*q == ' ') q++;
        }
        if (!named)
            snprintf(msg, cap, "NOPERM this user has no permissions to run the '%s' command", cmd->name);
        return 1;
    }
    if (u->allkeys) return 0;
    int *pos, nk = key_positions(cmd, c->argc, c->argv, &pos);
    for (int j = 0; j < nk; j++) {
        const struct bndr_arg *k = &c->argv[pos[j]];
        int ok = 0;
        for (int i = 0; i < u->nkeys && !ok; i++)
            ok = bndr_glob(u->keys[i], strlen(u->keys[i]), k->p, k->n, 0);
        if (!ok) {
            snprintf(msg, cap, "NOPERM this user has no permissions to access one of the keys used as arguments");
            bndr_free(pos);
            return 1;
        }
    }
    bndr_free(pos);
    return 0;
}

/* ---------------------------------------------------------------- ACL command */
static void describe(struct acl_user *u, struct bndr_buf *b)
{
    char line[256];
    int n = snprintf(line, sizeof line, "user %s %s", u->name, u->on ? "on" : "off");
    bndr_buf_add(b, line, (size_t)n);
    if (u->nopass) bndr_buf_add(b, " nopass", 7);
    for (int i = 0; i < u->nhashes; i++) {
        bndr_buf_add(b, " #", 2);
        for (int k = 0; k < BB_SHA256_LEN; k++) {
            n = snprintf(line, sizeof line, "%02x", u->hashes[i][k]);
            bndr_buf_add(b, line, (size_t)n);
        }
    }
    if (u->allkeys) bndr_buf_add(b, " ~*", 3);
    for (int i = 0; i < u->nkeys; i++) {
        bndr_buf_add(b, " ~", 2);
        bndr_buf_add(b, u->keys[i], strlen(u->keys[i]));
    }
    if (u->allchannels) bndr_buf_add(b, " &*", 3);
    else if (!u->nchans) bndr_buf_add(b, " resetchannels", 14);
    for (int i = 0; i < u->nchans; i++) {
        bndr_buf_add(b, " &", 2);
        bndr_buf_add(b, u->chans[i], strlen(u->chans[i]));
    }
    bndr_buf_add(b, " ", 1);
    bndr_buf_add(b, u->rules.p, u->rules.len - 1);
}

static void list_str(struct bndr_client *c, char **arr, int n, int all, char sigil)
{
    struct bndr_buf b = {0};
    if (all) {
        char s[2] = {sigil, '*'};
        bndr_buf_add(&b, s, 2);
    }
    for (int i = 0; i < n; i++) {
        if (b.len) bndr_buf_add(&b, " ", 1);
        bndr_buf_add(&b, &sigil, 1);
        bndr_buf_add(&b, arr[i], strlen(arr[i]));
    }
    bndr_add_bulk(c, b.p ? b.p : "", b.len);
    bndr_free(b.p);
}

static const char *const acl_help[] = {
    "ACL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CAT [<category>]",
    "    List all commands that belong to <category>, or all command categories",
    "    when no category is specified.",
    "DELUSER <username> [<username> ...]",
    "    Delete a list of users.",
    "DRYRUN <username> <command> [<arg> ...]",
    "    Returns whether the user can execute the given command without executing the command.",
    "GETUSER <username>",
    "    Get the user's details.",
    "GENPASS [<bits>]",
    "    Generate a secure 256-bit user password. The optional `bits` argument can",
    "    be used to specify a different size.",
    "LIST",
    "    Show users details in config file format.",
    "LOAD",
    "    Reload users from the ACL file.",
    "LOG [<count> | RESET]",
    "    Show the ACL log entries.",
    "SAVE",
    "    Save the current config to the ACL file.",
    "SETUSER <username> <attribute> [<attribute> ...]",
    "    Create or modify a user with the specified attributes.",
    "USERS",
    "    List all the registered usernames.",
    "WHOAMI",
    "    Return the current connection username.",
    "HELP",
    "    Prints this help.",
    NULL};

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_user(const void *a, const void *b)
{
    return strcmp((*(struct acl_user *const *)a)->name, (*(struct acl_user *const *)b)->name);
}

void bndr_cmd_acl(struct bndr_client *c)
{
    struct bndr_arg *sub = &c->argv[1];
    struct bndr_server *s = c->srv;
    if (!users_init) {
        bndr_dict_init(&users);
        users_init = 1;
    }
    char err[512];
    if (bndr_argeq(sub, "setuser") && c->argc >= 3) {
        const struct bndr_arg *name = &c->argv[2];
        if (bndr_argeq(name, "default") || bndr_argeq(name, BUNDER_TENANT_USER)) {
            bndr_add_error(c, "ERR bunder's 'default' user is configured by requirepass (CONFIG SET requirepass)");
            return;
        }
        if (name->n == 0 || name->n > 128 || memchr(name->p, ' ', name->n)) {
            bndr_add_error(c, "ERR Usernames can't contain spaces or null characters");
            return;
        }
        struct acl_user *old = user_get(name->p, name->n);
        if (!old && users.n >= ACL_MAX_USERS) {
            bndr_add_error(c, "ERR too many ACL users");
            return;
        }
        struct acl_user *u = old ? user_clone(old) : user_new(name->p, name->n);
        for (int i = 3; i < c->argc; i++) {
            if (apply_rule(u, c->argv[i].p, c->argv[i].n, err, sizeof err) < 0) {
                bndr_add_errorf(c, "ERR Error in ACL SETUSER modifier '%.*s': %s",
                                (int)(c->argv[i].n > 128 ? 128 : c->argv[i].n), c->argv[i].p, err);
                user_free(u);
                return;
            }
        }
        if (old) { /* clients point to old: it takes the new state, u the old one to free */
            struct acl_user tmp = *old;
            *old = *u;
            *u = tmp;
            user_free(u);
        } else {
            bndr_dict_upsert(&users, u->name, strlen(u->name), NULL)->v.p = u;
        }
        bndr_add_ok(c);
    } else if (bndr_argeq(sub, "getuser") && c->argc == 3) {
        struct acl_user *u = user_get(c->argv[2].p, c->argv[2].n);
        if (!u) {
            bndr_add_null(c);
            return;
        }
        bndr_add_map(c, 6);
        bndr_add_bulk_cstr(c, "flags");
        bndr_add_array(c, 1 + u->nopass);
        bndr_add_bulk_cstr(c, u->on ? "on" : "off");
        if (u->nopass) bndr_add_bulk_cstr(c, "nopass");
        bndr_add_bulk_cstr(c, "passwords");
        bndr_add_array(c, u->nhashes);
        for (int i = 0; i < u->nhashes; i++) {
            char hx[2 * BB_SHA256_LEN + 1];
            for (int k = 0; k < BB_SHA256_LEN; k++) snprintf(hx + 2 * k, 3, "%02x", u->hashes[i][k]);
            bndr_add_bulk(c, hx, 2 * BB_SHA256_LEN);
        }
        bndr_add_bulk_cstr(c, "commands");
        bndr_add_bulk(c, u->rules.p, u->rules.len - 1);
        bndr_add_bulk_cstr(c, "keys");
        list_str(c, u->keys, u->nkeys, u->allkeys, '~');
        bndr_add_bulk_cstr(c, "channels");
        list_str(c, u->chans, u->nchans, u->allchannels, '&');
        bndr_add_bulk_cstr(c, "selectors");
        bndr_add_array(c, 0);
    } else if (bndr_argeq(sub, "deluser") && c->argc >= 3) {
        long n = 0;
        for (int i = 2; i < c->argc; i++)
            if (bndr_argeq(&c->argv[i], "default")) {
                bndr_add_error(c, "ERR The 'default' user cannot be removed");
                return;
            }
        for (int i = 2; i < c->argc; i++) {
            struct acl_user *u = user_get(c->argv[i].p, c->argv[i].n);
            if (!u) continue;
            for (struct bndr_client *x = s->clients; x; x = x->next) /* as Redis: logged out */
                if (x->acl_user == u) {
                    x->acl_user = NULL;
                    x->flags &= ~BNDR_CF_AUTHED;
                    x->flags |= BNDR_CF_CLOSE_AFTER_REPLY;
                    bndr_client_mark_write(x);
                }
            struct bndr_de *e = bndr_dict_unlink(&users, u->name, strlen(u->name));
            bndr_free(e);
            user_free(u);
            n++;
        }
        bndr_add_ll(c, n);
    } else if (bndr_argeq(sub, "users") && c->argc == 2) {
        size_t n = users.n + 1;
        char **names = bndr_malloc(n * sizeof *names);
        size_t k = 0;
        names[k++] = (char *)"default";
        BNDR_DICT_FOREACH(&users, e) { names[k++] = ((struct acl_user *)e->v.p)->name; }
        qsort(names, k, sizeof *names, cmp_str);
        bndr_add_array(c, (long)k);
        for (size_t i = 0; i < k; i++) bndr_add_bulk_cstr(c, names[i]);
        bndr_free(names);
    } else if (bndr_argeq(sub, "list") && c->argc == 2) {
        size_t n = users.n;
        struct acl_user **us = bndr_malloc((n + 1) * sizeof *us);
        size_t k = 0;
        BNDR_DICT_FOREACH(&users, e) { us[k++] = e->v.p; }
        qsort(us, k, sizeof *us, cmp_user);
        char def[160] = "user default on nopass ~* &* +@all";
        if (s->cfg.requirepass[0]) { /* the hash, never the password */
            uint8_t h[BB_SHA256_LEN];
            bb_sha256(s->cfg.requirepass, strlen(s->cfg.requirepass), h);
            size_t l = (size_t)snprintf(def, sizeof def, "user default on #");
            for (int i = 0; i < BB_SHA256_LEN; i++) l += (size_t)snprintf(def + l, sizeof def - l, "%02x", h[i]);
            snprintf(def + l, sizeof def - l, " ~* &* +@all");
        }
        bndr_add_array(c, (long)k + 1);
        int def_done = 0;
        for (size_t i = 0; i <= k; i++) { /* by name, default among them */
            if (!def_done && (i == k || strcmp("default", us[i]->name) < 0)) {
                bndr_add_bulk_cstr(c, def);
                def_done = 1;
            }
            if (i == k) break;
            struct bndr_buf b = {0};
            describe(us[i], &b);
            bndr_add_bulk(c, b.p, b.len);
            bndr_free(b.p);
        }
        bndr_free(us);
    } else if (bndr_argeq(sub, "whoami") && c->argc == 2) {
        struct acl_user *u = c->acl_user;
        bndr_add_bulk_cstr(c, u ? u->name : "default");
    } else if (bndr_argeq(sub, "cat") && (c->argc == 2 || c->argc == 3)) {
        if (c->argc == 2) {
            long n = 0;
            while (cat_names[n]) n++;
            bndr_add_array(c, n);
            for (long i = 0; i < n; i++) bndr_add_bulk_cstr(c, cat_names[i]);
            return;
        }
        int cat = cat_index(c->argv[2].p, c->argv[2].n);
        if (cat < 0 || cat == 100) {
            bndr_add_errorf(c, "ERR Unknown category '%.*s'", (int)(c->argv[2].n > 64 ? 64 : c->argv[2].n), c->argv[2].p);
            return;
        }
        size_t h = bndr_add_deferred_len(c);
        long n = 0;
        for (size_t i = 0; i < bndr_cmd_count; i++) { /* as Redis: "container|sub" names too */
            const struct bndr_cmd *cmd = &bndr_cmd_table[i];
            if (bndr_meta_in_cat(cmd->name, strlen(cmd->name), cat_names[cat]) == 1) {
                bndr_add_bulk_cstr(c, cmd->name);
                n++;
            }
            for (const char *p = cmd->subcmds; p && *p;) {
                size_t l = strcspn(p, " ");
                char full[96];
                int fl = snprintf(full, sizeof full, "%s|%.*s", cmd->name, (int)l, p);
                if (bndr_meta_in_cat(full, (size_t)fl, cat_names[cat]) == 1) {
                    bndr_add_bulk(c, full, (size_t)fl);
                    n++;
                }
                p += l;
                while (*p == ' ') p++;
            }
        }
        bndr_set_deferred_len(c, h, n, '*');
    } else if ((bndr_argeq(sub, "load") || bndr_argeq(sub, "save")) && c->argc == 2) {
        bndr_add_error(c, "ERR This Redis instance is not configured to use an ACL file. You may want to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) in order to store users in the Redis configuration.");
    } else if (bndr_argeq(sub, "log") && c->argc <= 3) { /* no ACL log is kept */
        if (c->argc == 3 && bndr_argeq(&c->argv[2], "reset")) {
            bndr_add_ok(c);
            return;
        }
        long long cnt;
        if (c->argc == 3 && bndr_get_ll_or_reply(c, &c->argv[2], &cnt, NULL) < 0) return;
        bndr_add_array(c, 0);
    } else if (bndr_argeq(sub, "genpass") && c->argc <= 3) {
        long long bits = 256;
        if (c->argc == 3 && (bndr_parse_ll(c->argv[2].p, c->argv[2].n, &bits) < 0 || bits <= 0 || bits > 4096)) {
            bndr_add_error(c, "ERR ACL GENPASS argument must be the number of bits for the output password, a positive number up to 4096");
            return;
        }
        size_t chars = (size_t)(bits + 3) / 4;
        unsigned char raw[512];
        char hx[1025];
        bb_random_bytes(raw, (chars + 1) / 2);
        for (size_t i = 0; i < chars; i++) hx[i] = "0123456789abcdef"[(raw[i / 2] >> (i % 2 ? 0 : 4)) & 15];
        bndr_add_bulk(c, hx, chars);
    } else if (bndr_argeq(sub, "dryrun") && c->argc >= 4) {
        struct acl_user *u = user_get(c->argv[2].p, c->argv[2].n);
        if (!u) {
            bndr_add_errorf(c, "ERR User '%.*s' not found", (int)(c->argv[2].n > 128 ? 128 : c->argv[2].n), c->argv[2].p);
            return;
        }
        const struct bndr_cmd *cmd = bndr_cmd_lookup(c->argv[3].p, c->argv[3].n);
        if (!cmd) {
            bndr_add_errorf(c, "ERR Command '%.*s' not found", (int)(c->argv[3].n > 128 ? 128 : c->argv[3].n), c->argv[3].p);
            return;
        }
        int argc = c->argc - 3;
        if ((cmd->arity > 0 && argc != cmd->arity) || argc < -cmd->arity) {
            bndr_add_errorf(c, "ERR wrong number of arguments for '%s' command", cmd->name);
            return;
        }
        if (!u->allowed[cmd - bndr_cmd_table]) {
            char m[160];
            int l = snprintf(m, sizeof m, "This user has no permissions to run the '%s' command", cmd->name);
            bndr_add_bulk(c, m, (size_t)l);
            return;
        }
        int *pos, nk = u->allkeys ? 0 : key_positions(cmd, argc, c->argv + 3, &pos);
        for (int i = 0; i < nk; i++) {
            const struct bndr_arg *k = &c->argv[3 + pos[i]];
            int ok = 0;
            for (int j = 0; j < u->nkeys && !ok; j++)
                ok = bndr_glob(u->keys[j], strlen(u->keys[j]), k->p, k->n, 0);
            if (!ok) {
                char m[400];
                int l = snprintf(m, sizeof m, "This user has no permissions to access the '%.*s' key", (int)(k->n > 256 ? 256 : k->n), k->p);
                bndr_add_bulk(c, m, (size_t)l);
                bndr_free(pos);
                return;
            }
        }
        if (nk > 0) bndr_free(pos);
        bndr_add_ok(c);
    } else if (bndr_argeq(sub, "help") && c->argc == 2) {
        long n = 0;
        while (acl_help[n]) n++;
        bndr_add_array(c, n);
        for (long i = 0; i < n; i++) bndr_add_status(c, acl_help[i]);
    } else {
        bndr_sub_error(c, "ACL", "setuser getuser deluser users list whoami cat help dryrun genpass log load save");
    }
}
