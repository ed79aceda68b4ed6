/* cmd_script.c — Lua scripting: EVAL, EVALSHA, EVAL_RO, EVALSHA_RO, SCRIPT.
 *
 * Redis 7.0's model, on Debian's Lua 5.1 (the version Redis embeds):
 *
 * - One lua_State for the process, created lazily and recreated by SCRIPT FLUSH. It has the base,
 *   table, string and math libraries plus the C modules of Debian's lua-cjson (`cjson`) and
 *   lua-bitop (`bit`); loadfile/dofile are removed, `debug` is only kept as an upvalue of the
 *   error handler. Redis' `struct` and `cmsgpack` have no Debian package and are absent.
 * - Sandbox: the chunk environment is an always-empty proxy table whose metatable reads through
 *   to the real globals and errors like Redis on a missing name ("Script attempted to access
 *   nonexistent global variable") or on any assignment ("Attempt to modify a readonly table"), so
 *   no script can leave state behind for the next one. KEYS and ARGV are set in the real globals.
 * - A script body is compiled once per SHA1 (chunk name "@user_script", so errors read
 *   "user_script:<line>: ...") and kept in the registry under "f_<sha>" until SCRIPT FLUSH.
 * - redis.call/pcall run the command on a fake client through bndr_call, the same path as a
 *   network command (so every write is propagated to the AOF as itself: effects replication, as
 *   Redis 7 does); the fake client's RESP reply is then parsed into Lua values. The commands of
 *   one script are wrapped in MULTI/EXEC in the AOF, so a restart restores all or none of them.
 * - Scripts run inline on the loop: atomic. A count hook (every 100000 VM instructions) checks the
 *   run time; past busy-reply-threshold (lua-time-limit, default 5000 ms) the script is marked
 *   timed out and the hook lets the server read other clients (bndr_busy_process_events): they
 *   get -BUSY, except SCRIPT KILL (and AUTH/HELLO/QUIT/RESET), which makes the hook raise the
 *   "Script killed" error unless the script already wrote (-UNKILLABLE).
 *
 * Reply conversions (Redis' tables): Lua → RESP: number → integer (truncated), string → bulk,
 * true → :1 (RESP3 #t), false/nil → null, table with err/ok → error/status, {double=}, {map=},
 * {set=} in RESP3, other tables → array up to the first nil. RESP → Lua: integer → number, bulk →
 * string, null → false (RESP3 null → nil), status → {ok=}, error → {err=} (raised by
 * redis.call), array → table, RESP3 map/set/double/bool/big number/verbatim as Redis.
 */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <lauxlib.h>
#include <lua-bitop.h>
#include <lua-cjson.h>
int bndr_luaopen_cmsgpack(lua_State *L); /* lua_cmsgpack.c */
#include <lua.h>
#include <lualib.h>
#include <openssl/evp.h>

#include "bb_log.h"
#include "bndr.h"
#include "cmds.h"

#define SCRIPT_HOOK_COUNT 100000

static struct {
    lua_State *L;
    struct bndr_dict
        bodies; /* sha -> v.i = registry ref of the compiled function * 2 + no-writes */
    int globals_ref, errh_ref; /* registry refs: the real globals table, the error handler */
    struct bndr_client *fake;  /* runs redis.call */
    struct bndr_client *caller;
    int running, timedout, killed, wrote, readonly;
    int resp; /* redis.setresp */
    uint64_t start_ms;
    char sha[41];
    size_t lua_mem; /* bytes the Lua state holds now */
} sc;

static void sha1hex(const void *p, size_t n, char out[41])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_Digest(p, n, md, &mdlen, EVP_sha1(), NULL);
    static const char hx[] = "0123456789abcdef";
    for (unsigned i = 0; i < 20; i++) {
        out[2 * i] = hx[md[i] >> 4];
        out[2 * i + 1] = hx[md[i] & 15];
    }
    out[40] = 0;
}

/* ---------------------------------------------------------------- errors as Redis builds them */
/* Pushes {err="<CODE> <msg>"} from "-CODE msg" or "msg" (code ERR), trimming the line end. */
static void push_error_buf(lua_State *L, const char *e, size_t n)
{
    const char *code = "ERR";
    size_t codelen = 3;
    const char *msg = e;
    size_t msglen = n;
    if (n && e[0] == '-') {
        const char *sp = memchr(e, ' ', n);
        if (!sp) {
            msg = e + 1;
            msglen = n - 1;
        } else {
            code = e + 1;
            codelen = (size_t)(sp - e - 1);
            msg = sp + 1;
            msglen = n - (size_t)(sp + 1 - e);
        }
    }
    while (msglen && (msg[msglen - 1] == '\r' || msg[msglen - 1] == '\n'))
        msglen--;
    while (msglen && (msg[0] == '\r' || msg[0] == '\n')) {
        msg++;
        msglen--;
    }
    lua_newtable(L);
    lua_pushstring(L, "err");
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    luaL_addlstring(&b, code, codelen);
    luaL_addchar(&b, ' ');
    luaL_addlstring(&b, msg, msglen);
    luaL_pushresult(&b);
    lua_settable(L, -3);
}

static int raise_error(lua_State *L, const char *msg)
{
    push_error_buf(L, msg, strlen(msg));
    return lua_error(L);
}

/* ---------------------------------------------------------------- RESP → Lua */
/* Parses one reply at *pp (bounded by end) onto the Lua stack. Returns 0, or -1 on a malformed
 * buffer (cannot happen for replies our own writers produced). */
static int resp_to_lua(lua_State *L, const char **pp, const char *end, int raise_on_err)
{
    const char *p = *pp;
    if (p >= end) return -1;
    const char *nl = memchr(p, '\r', (size_t)(end - p));
    if (!nl || nl + 1 >= end) return -1;
    char t = p[0];
    const char *s = p + 1;
    size_t sn = (size_t)(nl - s);
    const char *next = nl + 2;
    long long v = 0;
    if (t == ':' || t == '$' || t == '*' || t == '%' || t == '~' || t == '=' || t == '>' ||
        t == '|') {
        if (bndr_parse_ll(s, sn, &v) < 0) return -1;
    }
    lua_checkstack(L, 8);
    switch (t) {
    case ':':
        lua_pushnumber(L, (lua_Number)v);
        break;
    case '$':
    case '=':
        if (v < 0) {
            lua_pushboolean(L, 0);
            break;
        }
        if ((long long)(end - next) < v + 2) return -1;
        if (t == '=') { /* verbatim: {verbatim_string={format=, string=}} */
            lua_newtable(L);
            lua_pushstring(L, "verbatim_string");
            lua_newtable(L);
            lua_pushstring(L, "format");
            lua_pushlstring(L, next, v >= 3 ? 3 : (size_t)v);
            lua_settable(L, -3);
            lua_pushstring(L, "string");
            lua_pushlstring(L, v >= 4 ? next + 4 : next, v >= 4 ? (size_t)v - 4 : 0);
            lua_settable(L, -3);
            lua_settable(L, -3);
        } else {
            lua_pushlstring(L, next, (size_t)v);
        }
        next += v + 2;
        break;
    case '+':
        lua_newtable(L);
        lua_pushstring(L, "ok");
        lua_pushlstring(L, s, sn);
        lua_settable(L, -3);
        break;
    case '-':
        push_error_buf(L, p, sn + 1);
        (void)raise_on_err;
        break;
    case '*':
    case '~':
    case '>':
        if (v < 0) {
            lua_pushboolean(L, 0);
            break;
        }
        if (t == '~') {
            lua_newtable(L);
            lua_pushstring(L, "set");
            lua_newtable(L);
            for (long long i = 0; i < v; i++) {
                if (resp_to_lua(L, &next, end, 0) < 0) return -1;
                lua_pushboolean(L, 1);
                lua_settable(L, -3);
            }
            lua_settable(L, -3);
            break;
        }
        lua_newtable(L);
        for (long long i = 0; i < v; i++) {
            if (resp_to_lua(L, &next, end, 0) < 0) return -1;
            lua_rawseti(L, -2, (int)i + 1);
        }
        break;
    case '%':
        lua_newtable(L);
        lua_pushstring(L, "map");
        lua_newtable(L);
        for (long long i = 0; i < v; i++) {
            if (resp_to_lua(L, &next, end, 0) < 0 || resp_to_lua(L, &next, end, 0) < 0) return -1;
            lua_settable(L, -3);
        }
        lua_settable(L, -3);
        break;
    case '|': /* attributes: skipped, as Redis does */
        for (long long i = 0; i < 2 * v; i++) {
            if (resp_to_lua(L, &next, end, 0) < 0) return -1;
            lua_pop(L, 1);
        }
        *pp = next;
        return resp_to_lua(L, pp, end, raise_on_err);
    case '_':
        lua_pushnil(L);
        break;
    case '#':
        lua_pushboolean(L, sn == 1 && s[0] == 't');
        break;
    case ',': {
        double d = 0;
        char tmp[128];
        size_t m = sn < sizeof tmp - 1 ? sn : sizeof tmp - 1;
        memcpy(tmp, s, m);
        tmp[m] = 0;
        if (!strcmp(tmp, "inf"))
            d = INFINITY;
        else if (!strcmp(tmp, "-inf"))
            d = -INFINITY;
        else if (!strcmp(tmp, "nan"))
            d = NAN;
        else
            d = strtod(tmp, NULL);
        lua_newtable(L);
        lua_pushstring(L, "double");
        lua_pushnumber(L, d);
        lua_settable(L, -3);
        break;
    }
    case '(':
        lua_newtable(L);
        lua_pushstring(L, "big_number");
        lua_pushlstring(L, s, sn);
        lua_settable(L, -3);
        break;
    default:
        return -1;
    }
    *pp = next;
    return 0;
}

/* ---------------------------------------------------------------- Lua → RESP */
static long long lua_num_to_ll(lua_Number d)
{
    /* (long long) of an out-of-range double is undefined in C; x86 yields LLONG_MIN, which is
     * what redis-server answers, so answer that without the undefined cast. */
    if (!(d > -9223372036854775808.0 && d < 9223372036854775808.0)) return INT64_MIN;
    return (long long)d;
}

static void lua_to_resp(struct bndr_client *c, lua_State *L, int depth)
{
    int t = lua_type(L, -1);
    if (!lua_checkstack(L, 4)) { /* a cyclic or very deep table: Redis stops here too */
        bndr_add_error(c, "ERR reached lua stack limit");
        lua_pop(L, 1);
        return;
    }
    switch (t) {
    case LUA_TSTRING: {
        size_t n;
        const char *s = lua_tolstring(L, -1, &n);
        bndr_add_bulk(c, s, n);
        break;
    }
    case LUA_TBOOLEAN:
        if (sc.resp == 2) {
            if (lua_toboolean(L, -1))
                bndr_add_ll(c, 1);
            else
                bndr_add_null(c);
        } else {
            bndr_add_bool(c, lua_toboolean(L, -1));
        }
        break;
    case LUA_TNUMBER:
        bndr_add_ll(c, lua_num_to_ll(lua_tonumber(L, -1)));
        break;
    case LUA_TTABLE: {
        lua_pushstring(L, "err");
        lua_rawget(L, -2);
        if (lua_type(L, -1) == LUA_TSTRING) {
            size_t n;
            const char *s = lua_tolstring(L, -1, &n);
            char *m = bndr_malloc(n + 2);
            m[0] = 0;
            memcpy(m, s, n);
            m[n] = 0;
            /* "-%s" of the message: an error line exactly as the table holds it */
            bndr_add_error(c, m);
            bndr_free(m);
            lua_pop(L, 2);
            return;
        }
        lua_pop(L, 1);
        lua_pushstring(L, "ok");
        lua_rawget(L, -2);
        if (lua_type(L, -1) == LUA_TSTRING) {
            size_t n;
            const char *s = lua_tolstring(L, -1, &n);
            char *m = bndr_memdup(s, n);
            for (size_t i = 0; i < n; i++)
                if (m[i] == '\r' || m[i] == '\n') m[i] = ' ';
            bndr_add_status(c, m);
            bndr_free(m);
            lua_pop(L, 2);
            return;
        }
        lua_pop(L, 1);
        if (sc.resp == 3) {
            lua_pushstring(L, "double");
            lua_rawget(L, -2);
            if (lua_type(L, -1) == LUA_TNUMBER) {
                bndr_add_double(c, lua_tonumber(L, -1));
                lua_pop(L, 2);
                return;
            }
            lua_pop(L, 1);
            for (int kind = 0; kind < 2; kind++) {
                lua_pushstring(L, kind == 0 ? "map" : "set");
                lua_rawget(L, -2);
                if (lua_type(L, -1) == LUA_TTABLE) {
                    size_t h = bndr_add_deferred_len(c);
                    long n = 0;
                    lua_pushnil(L);
                    while (lua_next(L, -2)) {
                        lua_pushvalue(L, -2); /* key copy */
                        lua_to_resp(c, L, depth + 1);
                        if (kind == 0)
                            lua_to_resp(c, L, depth + 1);
                        else
                            lua_pop(L, 1);
                        n++;
                    }
                    bndr_set_deferred_len(c, h, kind == 0 && c->resp == 2 ? n * 2 : n,
                                          c->resp == 3 ? (kind == 0 ? '%' : '~') : '*');
                    lua_pop(L, 2);
                    return;
                }
                lua_pop(L, 1);
            }
        }
        size_t h = bndr_add_deferred_len(c);
        long n = 0;
        for (;;) {
            lua_rawgeti(L, -1, (int)n + 1);
            if (lua_isnil(L, -1)) {
                lua_pop(L, 1);
                break;
            }
            lua_to_resp(c, L, depth + 1);
            n++;
        }
        bndr_set_deferred_len(c, h, n, '*');
        break;
    }
    default:
        bndr_add_null(c);
    }
    lua_pop(L, 1);
}

/* ---------------------------------------------------------------- redis.* */
static const char *const noscript_cmds[] = {
    "blpop",      "brpop",        "subscribe", "unsubscribe", "psubscribe", "punsubscribe",
    "multi",      "exec",         "discard",   "watch",       "unwatch",    "auth",
    "hello",      "quit",         "reset",     "client",      "config",     "save",
    "bgsave",     "bgrewriteaof", "shutdown",  "eval",        "evalsha",    "eval_ro",
    "evalsha_ro", "script",       "function",  "fcall",       "fcall_ro",   NULL};

static int cmd_noscript(const struct bndr_cmd *cmd)
{
    if (cmd->flags & BNDR_CMD_BLOCKING) /* a script cannot wait */
        return 1;
    for (int i = 0; noscript_cmds[i]; i++)
        if (!strcmp(noscript_cmds[i], cmd->name)) return 1;
    return 0;
}

static int redis_generic_call(lua_State *L, int raise)
{
    int argc = lua_gettop(L);
    if (argc == 0)
        return raise_error(L, "Please specify at least one argument for this redis lib call");
    struct bndr_server *s = bndr_srv;
    struct bndr_arg *argv = bndr_malloc((size_t)argc * sizeof(*argv));
    for (int i = 0; i < argc; i++) {
        int t = lua_type(L, i + 1);
        if (t == LUA_TNUMBER) {
            char buf[64];
            int m = snprintf(buf, sizeof buf, "%.17g", (double)lua_tonumber(L, i + 1));
            lua_pushlstring(L, buf, (size_t)m);
            lua_replace(L, i + 1); /* keeps the converted string alive on the stack */
        } else if (t != LUA_TSTRING) {
            bndr_free(argv);
            return raise_error(L, "Lua redis lib command arguments must be strings or integers");
        }
        size_t n;
        argv[i].p = (char *)lua_tolstring(L, i + 1, &n);
        argv[i].n = n;
    }
    const char *err = NULL;
    char tmsg[160];
    const struct bndr_cmd *cmd = bndr_cmd_lookup(argv[0].p, argv[0].n);
    /* a tenant's script is held to the tenant policy (bunder_tenant.h), like the tenant itself */
    if (sc.caller && (sc.caller->flags & BNDR_CF_TENANT) &&
        bndr_tenant_refuse(argc, argv, tmsg + 1, sizeof tmsg - 1)) {
        tmsg[0] = '-';
        err = tmsg;
    } else if (!cmd)
        err = "Unknown Redis command called from script";
    else if ((cmd->arity > 0 && argc != cmd->arity) || (cmd->arity < 0 && argc < -cmd->arity))
        err = "Wrong number of args calling Redis command from script";
    else if (cmd_noscript(cmd))
        err = "This Redis command is not allowed from script";
    else if (sc.readonly && (cmd->flags & BNDR_CMD_WRITE))
        err = "Write commands are not allowed from read-only scripts.";
    else if ((cmd->flags & BNDR_CMD_WRITE) && s->aof.write_error)
        err = "-MISCONF Errors writing to the AOF file: the server refuses writes until the AOF "
              "can be written again (see the log)";
    else if ((cmd->flags & BNDR_CMD_DENYOOM) && s->cfg.maxmemory && !sc.wrote && bndr_evict(s) < 0)
        err = "-OOM command not allowed when used memory > 'maxmemory'.";
    if (err) {
        bndr_free(argv);
        if (raise) return raise_error(L, err);
        push_error_buf(L, err, strlen(err));
        return 1;
    }
    struct bndr_client *f = sc.fake;
    f->resp = sc.resp;
    f->argv = argv;
    f->argc = argc;
    f->out.len = 0;
    long long dirty = s->dirty;
    bndr_call(f, cmd);
    if (s->dirty != dirty && (cmd->flags & BNDR_CMD_WRITE)) sc.wrote = 1;
    f->argv = NULL;
    f->argc = 0;
    bndr_free(argv);
    const char *p = f->out.p, *end = f->out.p + f->out.len;
    if (!p || resp_to_lua(L, &p, end, raise) < 0) {
        f->out.len = 0;
        return raise_error(L, "ERR reply from the command could not be parsed");
    }
    f->out.len = 0;
    if (raise && f->out.p && f->out.p[0] == '-') /* the error table is on the stack */
        return lua_error(L);
    return 1;
}

static int l_redis_call(lua_State *L)
{
    return redis_generic_call(L, 1);
}

static int l_redis_pcall(lua_State *L)
{
    return redis_generic_call(L, 0);
}

static int l_redis_sha1hex(lua_State *L)
{
    if (lua_gettop(L) != 1) {
        lua_pushstring(L, "wrong number of arguments");
        return lua_error(L);
    }
    size_t n;
    const char *s = lua_tolstring(L, 1, &n);
    char out[41];
    sha1hex(s ? s : "", s ? n : 0, out);
    lua_pushstring(L, out);
    return 1;
}

static int l_return_table(lua_State *L, const char *field)
{
    if (lua_gettop(L) != 1 || lua_type(L, -1) != LUA_TSTRING) {
        push_error_buf(L, "wrong number or type of arguments", 33); /* returned, not raised */
        return 1;
    }
    lua_newtable(L);
    lua_pushstring(L, field);
    lua_pushvalue(L, -3);
    lua_settable(L, -3);
    return 1;
}

static int l_redis_error_reply(lua_State *L)
{
    if (lua_gettop(L) != 1 || lua_type(L, -1) != LUA_TSTRING) {
        push_error_buf(L, "wrong number or type of arguments", 33); /* returned, not raised */
        return 1;
    }
    size_t n;
    const char *e = lua_tolstring(L, 1, &n);
    if (n && e[0] == '-') {
        push_error_buf(L, e, n);
    } else {
        char *m = bndr_malloc(n + 2);
        m[0] = '-';
        memcpy(m + 1, e, n);
        m[n + 1] = 0;
        push_error_buf(L, m, n + 1);
        bndr_free(m);
    }
    return 1;
}

static int l_redis_status_reply(lua_State *L)
{
    return l_return_table(L, "ok");
}

static int l_redis_log(lua_State *L)
{
    int argc = lua_gettop(L);
    if (argc < 2) return raise_error(L, "redis.log() requires two arguments or more.");
    if (!lua_isnumber(L, 1)) return raise_error(L, "First argument must be a number (log level).");
    int level = (int)lua_tonumber(L, 1);
    if (level < 0 || level > 3) return raise_error(L, "Invalid debug level.");
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int i = 2; i <= argc; i++) {
        size_t n;
        const char *s = lua_tolstring(L, i, &n);
        if (!s) continue;
        if (i > 2) luaL_addchar(&b, ' ');
        luaL_addlstring(&b, s, n);
    }
    luaL_pushresult(&b);
    const char *msg = lua_tostring(L, -1);
    if (level >= 3)
        bb_warn("bunder", "lua_log msg=\"%s\"", msg);
    else if (level == 2)
        bb_info("bunder", "lua_log msg=\"%s\"", msg);
    lua_pop(L, 1);
    return 0;
}

static int l_redis_setresp(lua_State *L)
{
    if (lua_gettop(L) != 1) return raise_error(L, "redis.setresp() requires one argument.");
    int r = (int)lua_tonumber(L, 1);
    if (r != 2 && r != 3) return raise_error(L, "RESP version must be 2 or 3.");
    sc.resp = r;
    return 0;
}

static int l_noop_true(lua_State *L)
{
    lua_pushboolean(L, 1);
    return 1;
}

static int l_noop(lua_State *L)
{
    (void)L;
    return 0;
}

/* ---------------------------------------------------------------- sandbox */
static int l_global_index(lua_State *L)
{
    /* (proxy, key): read the real globals (upvalue), or fail like Redis */
    lua_pushvalue(L, 2);
    lua_rawget(L, lua_upvalueindex(1));
    if (!lua_isnil(L, -1)) return 1;
    const char *k = lua_tostring(L, 2);
    return luaL_error(L, "Script attempted to access nonexistent global variable '%s'",
                      k ? k : "?");
}

static int l_global_newindex(lua_State *L);

/* rawset on a read-only proxy (globals, library tables) fails like Redis' read-only tables (no
 * position in the message: it comes from a C function) */
static int l_rawset(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_checkany(L, 2);
    luaL_checkany(L, 3);
    int ro = 0;
    if (lua_getmetatable(L, 1)) {
        lua_getfield(L, -1, "__newindex");
        ro = lua_tocfunction(L, -1) == l_global_newindex;
        lua_pop(L, 2);
    }
    if (ro) {
        lua_pushstring(L, "Attempt to modify a readonly table");
        return lua_error(L);
    }
    lua_settop(L, 3);
    lua_rawset(L, 1);
    return 1;
}

/* rawget on a read-only proxy reads the table behind it (kept in the metatable as __real) */
static int l_rawget(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_checkany(L, 2);
    lua_settop(L, 2);
    if (lua_getmetatable(L, 1)) {
        lua_getfield(L, -1, "__real");
        if (lua_istable(L, -1)) {
            lua_pushvalue(L, 2);
            lua_rawget(L, -2);
            return 1;
        }
        lua_pop(L, 2);
    }
    lua_rawget(L, 1);
    return 1;
}

static int l_global_newindex(lua_State *L)
{
    return luaL_error(L, "Attempt to modify a readonly table");
}

static const char err_handler_src[] = "local dbg = debug\n"
                                      "return function(err)\n"
                                      "  local i = dbg.getinfo(2,'nSl')\n"
                                      "  if i and i.what == 'C' then\n"
                                      "    i = dbg.getinfo(3,'nSl')\n"
                                      "  end\n"
                                      "  if type(err) ~= 'table' then\n"
                                      "    err = {err='ERR ' .. tostring(err)}\n"
                                      "  end\n"
                                      "  if i then\n"
                                      "    err['source'] = i.source\n"
                                      "    err['line'] = i.currentline\n"
                                      "  end\n"
                                      "  return err\n"
                                      "end\n";

/* Pushes a read-only proxy of the table at idx: reads go to it, writes fail; getmetatable() of
 * the proxy gives nothing to modify. */
static void push_ro_proxy(lua_State *L, int idx)
{
    idx = idx < 0 ? lua_gettop(L) + idx + 1 : idx;
    lua_newtable(L); /* proxy */
    lua_newtable(L); /* its metatable */
    lua_pushvalue(L, idx);
    lua_setfield(L, -2, "__real");
    lua_pushvalue(L, idx);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, l_global_newindex);
    lua_setfield(L, -2, "__newindex");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_setmetatable(L, -2);
}

/* setmetatable on a read-only proxy fails like Redis' read-only tables */
static int l_setmetatable(lua_State *L)
{
    if (lua_type(L, 1) == LUA_TTABLE && lua_getmetatable(L, 1)) {
        lua_getfield(L, -1, "__newindex");
        int ro = lua_tocfunction(L, -1) == l_global_newindex;
        lua_pop(L, 2);
        if (ro) {
            lua_pushstring(L, "Attempt to modify a readonly table");
            return lua_error(L);
        }
    }
    lua_pushvalue(L, lua_upvalueindex(1)); /* the original setmetatable */
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, 1);
    return 1;
}

/* getmetatable of a library proxy is nil, as for Redis' library tables (the proxy's own
 * metatable stays hidden) */
static int l_getmetatable(lua_State *L)
{
    luaL_checkany(L, 1);
    lua_settop(L, 1);
    lua_pushvalue(L, lua_upvalueindex(1)); /* the original getmetatable */
    lua_pushvalue(L, 1);
    lua_call(L, 1, 1);
    if (lua_isboolean(L, -1) && !lua_toboolean(L, -1) && lua_type(L, 1) == LUA_TTABLE &&
        lua_getmetatable(L, 1)) {
        lua_getfield(L, -1, "__newindex");
        int ro = lua_tocfunction(L, -1) == l_global_newindex;
        lua_pop(L, 2);
        if (ro) {
            lua_pop(L, 1);
            lua_pushnil(L);
        }
    }
    return 1;
}

/* Debian's lua-cjson 2.1.0 sizes its output buffer in int (len * 6 + 2 for each string, the
 * total in an int too): a value whose JSON could pass INT_MAX bytes would overflow it (the bug
 * Redis fixed in its own copy as CVE-2022-24834). cjson.encode first bounds the worst-case output
 * size of its argument; past CJSON_MAX_OUT it raises instead of calling the library. */
#define CJSON_MAX_OUT ((long long)INT_MAX - 65536)
static long long cjson_worst(lua_State *L, int idx, int depth)
{
    switch (lua_type(L, idx)) {
    case LUA_TSTRING:
        return (long long)lua_objlen(L, idx) * 6 + 2;
    case LUA_TTABLE: {
        if (depth > 1001 || !lua_checkstack(L, 3))
            return 0; /* cjson refuses nesting this deep itself */
        long long sum = 2;
        lua_pushnil(L);
        while (lua_next(L, idx)) {
            int top = lua_gettop(L);
            sum += cjson_worst(L, top - 1, depth + 1) + cjson_worst(L, top, depth + 1) + 2;
            lua_pop(L, 1);
            if (sum > CJSON_MAX_OUT) {
                lua_pop(L, 1);
                return sum;
            }
        }
        return sum;
    }
    default:
        return 32; /* numbers, booleans, null */
    }
}

static int l_cjson_encode(lua_State *L)
{
    luaL_argcheck(L, lua_gettop(L) == 1, 1, "expected 1 argument");
    if (cjson_worst(L, 1, 0) > CJSON_MAX_OUT)
        return luaL_error(L, "cjson.encode: value too large to encode");
    lua_pushvalue(L, lua_upvalueindex(1)); /* the library's encode */
    lua_insert(L, 1);
    if (lua_pcall(L, 1, 1, 0)) {
        /* re-raised from here so the message carries the script's position, as when the
         * script calls the library directly */
        const char *m = lua_tostring(L, -1);
        return luaL_error(L, "%s", m ? m : "cjson.encode failed");
    }
    return 1;
}

/* cjson.encode_max_depth / decode_max_depth: the setting is shared by every later script (as in
 * Redis), so it is capped at the default 1000 — deeper recursion in the library could exhaust the
 * C stack and crash the server. */
static int l_cjson_depth(lua_State *L)
{
    if (lua_type(L, 1) == LUA_TNUMBER && lua_tonumber(L, 1) > 1000) {
        lua_pushnumber(L, 1000);
        lua_replace(L, 1);
    }
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    return lua_gettop(L);
}

/* LuaBitOp's bit.tohex(x, n) overflows its stack buffer for n = -2^31 (CVE-2024-31449, fixed in
 * Redis' copy; Debian's lua-bitop 1.0.2 still has it): such an n is passed as -2^31 + 1, which is
 * what the fix amounts to (8 upper-case digits). Arguments are checked here so errors name
 * 'tohex' and the script's line as a direct call does. */
static int l_bit_tohex(lua_State *L)
{
    luaL_checknumber(L, 1);
    if (!lua_isnone(L, 2)) {
        union {
            lua_Number n;
            uint64_t b;
        } bn;
        bn.n = luaL_checknumber(L, 2) + 6755399441055744.0; /* LuaBitOp's own conversion */
        if ((uint32_t)bn.b == 0x80000000u) {
            lua_pushnumber(L, -2147483647.0);
            lua_replace(L, 2);
        }
    }
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, 1);
    return 1;
}

/* unpack as Lua 5.1's, without its overflow: e - i + 1 overflowed int for extreme bounds and
 * Debian's Lua then grew the stack past its end (CVE-2025-46817, fixed in Redis' copy). */
static int l_unpack(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    int i = luaL_optint(L, 2, 1);
    int e = luaL_opt(L, luaL_checkint, 3, luaL_getn(L, 1));
    if (i > e) return 0;
    unsigned n = (unsigned)e - (unsigned)i; /* elements - 1 */
    if (n >= INT_MAX || !lua_checkstack(L, (int)++n))
        return luaL_error(L, "too many results to unpack");
    for (unsigned k = 0; k < n; k++)
        lua_rawgeti(L, 1, (int)((unsigned)i + k));
    return (int)n;
}

static void open_lib(lua_State *L, const char *name, lua_CFunction f)
{
    lua_pushcfunction(L, f);
    lua_pushstring(L, name);
    lua_call(L, 1, 0);
}

static void script_hook(lua_State *L, lua_Debug *ar);
static int l_register_function(lua_State *L);

/* The Lua state's allocator: counts its memory and, while a script runs, refuses to grow past
 * lua-memory-limit, so a runaway script fails with "not enough memory" instead of taking the
 * host's memory (a tenant's script is not bounded by maxmemory, which counts the dataset). Outside
 * a script (state set-up, KEYS/ARGV, reply conversion) nothing is refused: an allocation failure
 * there would be an unprotected Lua error. Shrinking never fails, as Lua requires. */
static void *lua_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    (void)ud;
    if (nsize == 0) {
        free(ptr);
        sc.lua_mem -= osize;
        return NULL;
    }
    long long limit = bndr_srv ? bndr_srv->cfg.lua_memory_limit : 0;
    if (nsize > osize && sc.running && limit > 0 && sc.lua_mem + (nsize - osize) > (size_t)limit)
        return NULL;
    void *p = realloc(ptr, nsize);
    if (p) sc.lua_mem = sc.lua_mem - osize + nsize;
    return p;
}

static int lua_panic(lua_State *L)
{
    bb_error("bunder", "lua_panic err=\"%s\"", lua_tostring(L, -1) ? lua_tostring(L, -1) : "?");
    abort();
}

size_t bndr_script_memory(void)
{
    return sc.lua_mem;
}

static void state_create(void)
{
    lua_State *L = lua_newstate(lua_alloc, NULL);
    if (!L) abort();
    lua_atpanic(L, lua_panic);
    open_lib(L, "", luaopen_base);
    open_lib(L, LUA_TABLIBNAME, luaopen_table);
    open_lib(L, LUA_STRLIBNAME, luaopen_string);
    open_lib(L, LUA_MATHLIBNAME, luaopen_math);
    open_lib(L, LUA_DBLIBNAME, luaopen_debug);
    lua_pushcfunction(L, luaopen_cjson); /* returns the module without setting a global */
    lua_call(L, 0, 1);
    lua_getfield(L, -1, "encode");
    lua_pushcclosure(L, l_cjson_encode, 1);
    lua_setfield(L, -2, "encode");
    static const char *const depth_fns[] = {"encode_max_depth", "decode_max_depth", NULL};
    for (int i = 0; depth_fns[i]; i++) {
        lua_getfield(L, -1, depth_fns[i]);
        lua_pushcclosure(L, l_cjson_depth, 1);
        lua_setfield(L, -2, depth_fns[i]);
    }
    lua_setglobal(L, "cjson");
    open_lib(L, "bit", luaopen_bit);
    lua_pushcfunction(L, bndr_luaopen_cmsgpack); /* lua_cmsgpack.c: returns the module */
    lua_call(L, 0, 1);
    lua_setglobal(L, "cmsgpack");
    lua_getglobal(L, "bit");
    lua_getfield(L, -1, "tohex");
    lua_pushcclosure(L, l_bit_tohex, 1);
    lua_setfield(L, -2, "tohex");
    lua_pop(L, 1);
    /* the error handler keeps `debug` as an upvalue; then debug goes */
    if (luaL_loadbuffer(L, err_handler_src, sizeof err_handler_src - 1, "@err_handler") ||
        lua_pcall(L, 0, 1, 0)) {
        bb_error("bunder", "lua_init_failed err=\"%s\"", lua_tostring(L, -1));
        abort();
    }
    sc.errh_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    /* what Redis 7.0 leaves out of the globals */
    static const char *const drop[] = {
        "debug",   "loadfile",       "dofile",  "print",  "load",      "loadstring",
        "getfenv", "setfenv",        "require", "module", "coroutine", "newproxy",
        "gcinfo",  "collectgarbage", "package", "io",     "os",        NULL};
    for (int i = 0; drop[i]; i++) {
        lua_pushnil(L);
        lua_setglobal(L, drop[i]);
    }
    lua_pushcfunction(L, l_rawset);
    lua_setglobal(L, "rawset");
    lua_pushcfunction(L, l_unpack);
    lua_setglobal(L, "unpack");
    /* The chunk name stays referenced for the life of the state: Lua 5.1's parser does not
     * anchor it, and a script that makes the collector run while it is being compiled could
     * free it under the parser (CVE-2025-49844, fixed in Redis' copy). Strings are interned,
     * so this reference keeps the very string the parser uses alive. */
    lua_pushliteral(L, "@user_script");
    luaL_ref(L, LUA_REGISTRYINDEX);
    lua_pushcfunction(L, l_rawget);
    lua_setglobal(L, "rawget");
    /* the redis table */
    lua_newtable(L);
    static const luaL_Reg fns[] = {{"call", l_redis_call},
                                   {"pcall", l_redis_pcall},
                                   {"sha1hex", l_redis_sha1hex},
                                   {"error_reply", l_redis_error_reply},
                                   {"status_reply", l_redis_status_reply},
                                   {"log", l_redis_log},
                                   {"setresp", l_redis_setresp},
                                   {"replicate_commands", l_noop_true},
                                   {"set_repl", l_noop},
                                   {"breakpoint", l_noop},
                                   {"debug", l_noop},
                                   {"register_function", l_register_function},
                                   {NULL, NULL}};
    for (const luaL_Reg *r = fns; r->name; r++) {
        lua_pushcfunction(L, r->func);
        lua_setfield(L, -2, r->name);
    }
    static const struct {
        const char *name;
        int v;
    } consts[] = {{"LOG_DEBUG", 0}, {"LOG_VERBOSE", 1}, {"LOG_NOTICE", 2}, {"LOG_WARNING", 3},
                  {"REPL_NONE", 0}, {"REPL_AOF", 1},    {"REPL_SLAVE", 2}, {"REPL_REPLICA", 2},
                  {"REPL_ALL", 3},  {NULL, 0}};
    for (int i = 0; consts[i].name; i++) {
        lua_pushnumber(L, consts[i].v);
        lua_setfield(L, -2, consts[i].name);
    }
    lua_pushstring(L, "7.0.15");
    lua_setfield(L, -2, "REDIS_VERSION");
    lua_pushnumber(L, 0x07000f);
    lua_setfield(L, -2, "REDIS_VERSION_NUM");
    lua_setglobal(L, "redis");
    /* library tables become read-only proxies too (reads go to the real table), so no script
     * can change string, redis, … for the next one */
    static const char *const libs[] = {"redis", "string", "table", "math", "cjson", "bit",
                                       "cmsgpack", NULL};
    for (int i = 0; libs[i]; i++) {
        lua_getglobal(L, libs[i]);
        push_ro_proxy(L, -1);
        lua_setglobal(L, libs[i]);
        lua_pop(L, 1);
    }
    /* the strings' metatable: its __index is the read-only string proxy, and getmetatable('')
     * answers a read-only proxy of it, so no script can break string methods for the next */
    lua_pushliteral(L, "");
    lua_getmetatable(L, -1);
    lua_getglobal(L, "string");
    lua_setfield(L, -2, "__index");
    push_ro_proxy(L, -1);
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 2);
    lua_getglobal(L, "setmetatable");
    lua_pushcclosure(L, l_setmetatable, 1);
    lua_setglobal(L, "setmetatable");
    lua_getglobal(L, "getmetatable");
    lua_pushcclosure(L, l_getmetatable, 1);
    lua_setglobal(L, "getmetatable");
    /* the proxy: every global read goes through l_global_index, every write fails */
    lua_pushvalue(L, LUA_GLOBALSINDEX); /* real globals */
    lua_newtable(L);                    /* proxy */
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, "_G"); /* _G names the proxy */
    lua_newtable(L);           /* metatable */
    lua_pushvalue(L, -3);
    lua_setfield(L, -2, "__real");
    lua_pushvalue(L, -3);
    lua_pushcclosure(L, l_global_index, 1);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, l_global_newindex);
    lua_setfield(L, -2, "__newindex");
    push_ro_proxy(L, -1); /* getmetatable(_G): a read-only view of this metatable */
    lua_setfield(L, -2, "__metatable");
    lua_setmetatable(L, -2);
    lua_setfield(L, LUA_REGISTRYINDEX, "proxy");
    sc.globals_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_sethook(L, script_hook, LUA_MASKCOUNT, SCRIPT_HOOK_COUNT);
    sc.L = L;
}

static void state_destroy(void)
{
    if (sc.L) lua_close(sc.L);
    sc.L = NULL;
    bndr_dict_release(&sc.bodies, NULL);
    bndr_dict_init(&sc.bodies);
}

static void flib_reload_all(void);

static void ensure_state(void)
{
    if (!sc.L) {
        bndr_dict_init(&sc.bodies);
        state_create();
        flib_reload_all(); /* FUNCTION libraries outlive SCRIPT FLUSH */
    }
    if (!sc.fake) sc.fake = bndr_client_fake(bndr_srv);
}

/* ---------------------------------------------------------------- busy scripts */
static void script_hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    if (!sc.running) return;
    uint64_t now = bndr_mstime();
    long long limit = bndr_srv->cfg.busy_reply_threshold;
    if (!sc.timedout && limit > 0 && now - sc.start_ms >= (uint64_t)limit) {
        sc.timedout = 1;
        bb_warn("bunder",
                "slow_script sha=%s elapsed_ms=%llu (other clients now get -BUSY; "
                "SCRIPT KILL or SHUTDOWN NOSAVE)",
                sc.sha, (unsigned long long)(now - sc.start_ms));
    }
    if (sc.timedout) bndr_busy_process_events(bndr_srv, sc.caller);
    if (sc.killed || bndr_srv->shutting_down) { /* SCRIPT KILL, or SHUTDOWN NOSAVE */
        bb_warn("bunder", "slow_script_killed sha=%s", sc.sha);
        /* from now on every line raises, so pcall cannot swallow the kill */
        lua_sethook(L, script_hook, LUA_MASKLINE, 0);
        raise_error(L, "Script killed by user with SCRIPT KILL...");
    }
}

int bndr_script_busy(void)
{
    return sc.running && sc.timedout;
}

int bndr_script_busy_reject(struct bndr_client *c, const struct bndr_cmd *cmd)
{
    if (!sc.running || !sc.timedout || c == sc.caller || c == sc.fake) return 0;
    /* what Redis 7 flags allow-busy */
    static const char *const ok[] = {"auth",    "hello", "quit",    "reset", "multi",
                                     "discard", "watch", "unwatch", NULL};
    for (int i = 0; ok[i]; i++)
        if (!strcmp(cmd->name, ok[i])) return 0;
    if (!strcmp(cmd->name, "script") && c->argc == 2 && bndr_argeq(&c->argv[1], "kill")) return 0;
    if (!strcmp(cmd->name, "shutdown")) {
        /* SHUTDOWN NOSAVE stops the server (and the script's writes are not saved); a malformed
         * SHUTDOWN gets its syntax error, any other -BUSY, as in Redis */
        for (int i = 1; i < c->argc; i++)
            if (bndr_argeq(&c->argv[i], "nosave") ||
                !(bndr_argeq(&c->argv[i], "save") || bndr_argeq(&c->argv[i], "now") ||
                  bndr_argeq(&c->argv[i], "force")))
                return 0;
    }
    return 1;
}

/* ---------------------------------------------------------------- EVAL */
/* Parses a "#!lua flags=a,b" first line. Returns the offset of the body after it (0 without a
 * shebang), or -1 after replying an error. */
static long parse_shebang(struct bndr_client *c, const char *body, size_t n, int *no_writes)
{
    if (n < 2 || body[0] != '#' || body[1] != '!') return 0;
    const char *nl = memchr(body, '\n', n);
    size_t ln = nl ? (size_t)(nl - body) : n;
    char line[1024];
    if (ln >= sizeof line) {
        bndr_add_error(c, "ERR Unexpected engine in script shebang");
        return -1;
    }
    memcpy(line, body + 2, ln - 2);
    line[ln - 2] = 0;
    char *save = NULL;
    char *tok = strtok_r(line, " ", &save);
    if (!tok || strcmp(tok, "lua")) {
        bndr_add_errorf(c, "ERR Unexpected engine in script shebang: #!%s", tok ? tok : "");
        return -1;
    }
    while ((tok = strtok_r(NULL, " ", &save))) {
        if (strncmp(tok, "flags=", 6)) {
            bndr_add_errorf(c, "ERR Unknown lua shebang option: %s", tok);
            return -1;
        }
        char *fs = NULL;
        for (char *f = strtok_r(tok + 6, ",", &fs); f; f = strtok_r(NULL, ",", &fs)) {
            if (!strcmp(f, "no-writes"))
                *no_writes = 1;
            else if (strcmp(f, "allow-oom") && strcmp(f, "allow-stale") &&
                     strcmp(f, "no-cluster") && strcmp(f, "allow-cross-slot-keys")) {
                bndr_add_errorf(c, "ERR Unexpected flag in script shebang: %s", f);
                return -1;
            }
        }
    }
    return (long)ln;
}

/* Compiles body under its sha unless already known. Returns its entry in sc.bodies, or NULL
 * after replying. */
static struct bndr_de *script_load(struct bndr_client *c, const char *body, size_t n, char sha[41])
{
    sha1hex(body, n, sha);
    struct bndr_de *e = bndr_dict_find(&sc.bodies, sha, 40);
    if (e) return e;
    int no_writes = 0;
    long off = parse_shebang(c, body, n, &no_writes);
    if (off < 0) return NULL;
    lua_State *L = sc.L;
    /* a shebang line is compiled as an empty line, so line numbers stay the body's */
    /* Never precompiled bytecode (unsafe to load: it can corrupt memory and escape the
     * sandbox). Debian's Lua loads a chunk starting with ESC as bytecode; one leading space makes
     * it text, so it fails to compile exactly as in Redis, whose Lua has bytecode loading off. */
    int bytecode = n > (size_t)off && body[off] == LUA_SIGNATURE[0];
    char *text = NULL;
    if (bytecode) {
        text = bndr_malloc(n - (size_t)off + 1);
        text[0] = ' ';
        memcpy(text + 1, body + off, n - (size_t)off);
    }
    int lerr = bytecode ? luaL_loadbuffer(L, text, n - (size_t)off + 1, "@user_script")
                        : luaL_loadbuffer(L, body + off, n - (size_t)off, "@user_script");
    bndr_free(text);
    if (lerr) {
        bndr_add_errorf(c, "ERR Error compiling script (new function): %s", lua_tostring(L, -1));
        lua_pop(L, 1);
        return NULL;
    }
    lua_getfield(L, LUA_REGISTRYINDEX, "proxy");
    lua_setfenv(L, -2);
    int ref = luaL_ref(L, LUA_REGISTRYINDEX);
    e = bndr_dict_upsert(&sc.bodies, sha, 40, NULL);
    e->v.i = (int64_t)ref * 2 + no_writes;
    return e;
}

static void set_array_global(lua_State *L, const char *name, struct bndr_arg *a, int n)
{
    lua_rawgeti(L, LUA_REGISTRYINDEX, sc.globals_ref);
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        lua_pushlstring(L, a[i].p, a[i].n);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, name);
    lua_pop(L, 1);
}

/* Runs the function on the stack (above the error handler, below its nargs arguments) as a
 * script of c: atomic, its writes wrapped in MULTI/EXEC in the AOF, errors worded as Redis with
 * sha (EVAL: the body's sha1, FCALL: the function's name). */
static void run_pushed(struct bndr_client *c, int nargs, const char *sha, int readonly)
{
    struct bndr_server *s = c->srv;
    lua_State *L = sc.L;
    snprintf(sc.sha, sizeof sc.sha, "%s", sha);
    sc.caller = c;
    sc.fake->db = c->db; /* the script runs in the caller's database; its SELECTs stay its own */
    sc.running = 1;
    sc.timedout = sc.killed = sc.wrote = 0;
    sc.readonly = readonly;
    sc.resp = 2;
    sc.start_ms = bndr_mstime();
    int own_multi = !s->in_exec;
    if (own_multi) s->in_exec = 1; /* the script's writes go to the AOF as one MULTI/EXEC */
    lua_sethook(L, script_hook, LUA_MASKCOUNT, SCRIPT_HOOK_COUNT);
    int err = lua_pcall(L, nargs, 1, -2 - nargs);
    sc.running = 0;
    if (own_multi) {
        s->in_exec = 0;
        if (s->aof.in_multi && !s->shutting_down) { /* SHUTDOWN NOSAVE: left unterminated */
            struct bndr_arg e = {(char *)"EXEC", 4};
            bndr_aof_feed(s, 1, &e);
            s->aof.in_multi = 0;
        }
    }
    if (sc.timedout)
        bb_warn("bunder", "slow_script_done sha=%s elapsed_ms=%llu", sha,
                (unsigned long long)(bndr_mstime() - sc.start_ms));
    sc.timedout = 0;
    sc.killed = 0;
    sc.caller = NULL;
    if (err) {
        if (lua_istable(L, -1)) {
            lua_getfield(L, -1, "err");
            lua_getfield(L, -2, "source");
            lua_getfield(L, -3, "line");
            const char *msg = lua_tostring(L, -3);
            const char *src = lua_tostring(L, -2);
            const char *line = lua_tostring(L, -1);
            struct bndr_buf b = {0};
            bndr_buf_add(&b, msg ? msg : "", msg ? strlen(msg) : 0);
            if (src && line) {
                char tail[256];
                int m = snprintf(tail, sizeof tail, " script: %s, on %s:%s.", sha, src, line);
                bndr_buf_add(&b, tail, (size_t)m);
            }
            bndr_buf_add(&b, "", 1);
            bndr_add_error(c, b.p);
            bndr_free(b.p);
            lua_pop(L, 4);
        } else {
            const char *msg = lua_tostring(L, -1);
            bndr_add_errorf(c, "ERR Error running script %s, %.100s", sha,
                            msg ? msg : "execution failure");
            lua_pop(L, 1);
        }
    } else {
        lua_to_resp(c, L, 0);
    }
    lua_pop(L, 1); /* the error handler */
    /* an incremental GC step every 50 scripts, as Redis does (every script costs too much CPU) */
    static int gc_count;
    long long limit = s->cfg.lua_memory_limit;
    if (limit > 0 && sc.lua_mem > (size_t)limit / 2) { /* garbage must not fail the next one */
        lua_gc(L, LUA_GCCOLLECT, 0);
        gc_count = 0;
    } else if (++gc_count == 50) {
        lua_gc(L, LUA_GCSTEP, 50);
        gc_count = 0;
    }
}


static void eval_generic(struct bndr_client *c, int by_sha, int readonly)
{
    long long numkeys;
    if (bndr_get_ll_or_reply(c, &c->argv[2], &numkeys, NULL) < 0) return;
    if (numkeys > c->argc - 3) {
        bndr_add_error(c, "ERR Number of keys can't be greater than number of args");
        return;
    }
    if (numkeys < 0) {
        bndr_add_error(c, "ERR Number of keys can't be negative");
        return;
    }
    ensure_state();
    lua_State *L = sc.L;
    char sha[41];
    struct bndr_de *se;
    if (by_sha) {
        if (c->argv[1].n != 40) {
            bndr_add_error(c, "NOSCRIPT No matching script. Please use EVAL.");
            return;
        }
        for (int i = 0; i < 40; i++) {
            char ch = c->argv[1].p[i];
            sha[i] = (ch >= 'A' && ch <= 'Z') ? (char)(ch + 32) : ch;
        }
        sha[40] = 0;
        if (!(se = bndr_dict_find(&sc.bodies, sha, 40))) {
            bndr_add_error(c, "NOSCRIPT No matching script. Please use EVAL.");
            return;
        }
    } else if (!(se = script_load(c, c->argv[1].p, c->argv[1].n, sha))) {
        return;
    }
    int no_writes = (int)(se->v.i & 1);
    set_array_global(L, "KEYS", c->argv + 3, (int)numkeys);
    set_array_global(L, "ARGV", c->argv + 3 + numkeys, c->argc - 3 - (int)numkeys);
    lua_rawgeti(L, LUA_REGISTRYINDEX, sc.errh_ref);
    lua_rawgeti(L, LUA_REGISTRYINDEX, (int)(se->v.i >> 1));
    run_pushed(c, 0, sha, readonly || no_writes);
}

void bndr_cmd_eval(struct bndr_client *c)
{
    eval_generic(c, 0, 0);
}

void bndr_cmd_evalsha(struct bndr_client *c)
{
    eval_generic(c, 1, 0);
}

void bndr_cmd_eval_ro(struct bndr_client *c)
{
    eval_generic(c, 0, 1);
}

void bndr_cmd_evalsha_ro(struct bndr_client *c)
{
    eval_generic(c, 1, 1);
}

/* ---------------------------------------------------------------- SCRIPT */
static const char *const script_help[] = {
    "SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "DEBUG (YES|SYNC|NO)",
    "    Set the debug mode for subsequent scripts executed.",
    "EXISTS <sha1> [<sha1> ...]",
    "    Return information about the existence of the scripts in the script cache.",
    "FLUSH [ASYNC|SYNC]",
    "    Flush the Lua scripts cache. Very dangerous on replicas.",
    "    When called without the optional mode argument, the behavior is determined by the",
    "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
    "    * ASYNC: Asynchronously flush the scripts cache.",
    "    * SYNC: Synchronously flush the scripts cache.",
    "KILL",
    "    Kill the currently executing Lua script.",
    "LOAD <script>",
    "    Load a script into the scripts cache without executing it.",
    "HELP",
    "    Prints this help.",
    NULL};

static int sub_arity(struct bndr_client *c, const char *sub, int arity)
{
    if ((arity > 0 && c->argc != arity) || (arity < 0 && c->argc < -arity)) {
        bndr_add_errorf(c, "ERR wrong number of arguments for 'script|%s' command", sub);
        return -1;
    }
    return 0;
}

void bndr_cmd_script(struct bndr_client *c)
{
    struct bndr_arg *sub = &c->argv[1];
    if (bndr_argeq(sub, "load")) {
        if (sub_arity(c, "load", 3) < 0) return;
        ensure_state();
        char sha[41];
        if (!script_load(c, c->argv[2].p, c->argv[2].n, sha)) return;
        bndr_add_bulk(c, sha, 40);
    } else if (bndr_argeq(sub, "exists")) {
        if (sub_arity(c, "exists", -3) < 0) return;
        ensure_state();
        bndr_add_array(c, c->argc - 2);
        for (int i = 2; i < c->argc; i++) {
            char sha[41];
            int ok = c->argv[i].n == 40;
            for (int j = 0; ok && j < 40; j++) {
                char ch = c->argv[i].p[j];
                sha[j] = (ch >= 'A' && ch <= 'Z') ? (char)(ch + 32) : ch;
            }
            bndr_add_ll(c, ok && bndr_dict_find(&sc.bodies, sha, 40) ? 1 : 0);
        }
    } else if (bndr_argeq(sub, "flush")) {
        if (sub_arity(c, "flush", -2) < 0) return;
        if (c->argc > 3 || (c->argc == 3 && !bndr_argeq(&c->argv[2], "sync") &&
                            !bndr_argeq(&c->argv[2], "async"))) {
            bndr_add_error(c, "ERR SCRIPT FLUSH only support SYNC|ASYNC option");
            return;
        }
        if (sc.L) state_destroy();
        bndr_add_ok(c);
    } else if (bndr_argeq(sub, "kill")) {
        if (sub_arity(c, "kill", 2) < 0) return;
        if (!sc.running) {
            bndr_add_error(c, "NOTBUSY No scripts in execution right now.");
        } else if (sc.wrote) {
            bndr_add_error(c, "UNKILLABLE Sorry the script already executed write commands "
                              "against the dataset. You can either wait the script termination "
                              "or kill the server in a hard way using the SHUTDOWN NOSAVE "
                              "command.");
        } else {
            sc.killed = 1;
            bndr_add_ok(c);
        }
    } else if (bndr_argeq(sub, "help")) {
        if (sub_arity(c, "help", 2) < 0) return;
        long n = 0;
        while (script_help[n])
            n++;
        bndr_add_array(c, n);
        for (long i = 0; i < n; i++)
            bndr_add_status(c, script_help[i]);
    } else if (bndr_argeq(sub, "debug")) {
        /* Redis 7.0: NO leaves debugging off (OK); YES/SYNC would start the Lua debugger
         * (LDB) for the next EVAL, which bunder does not have: a clear error instead */
        if (sub_arity(c, "debug", 3) < 0) return;
        if (c->out.len || c->writing) /* replies not yet written: a pipeline */
            bndr_add_error(c, "ERR SCRIPT DEBUG must be called outside a pipeline");
        else if (bndr_argeq(&c->argv[2], "no"))
            bndr_add_status(c, "OK");
        else if (bndr_argeq(&c->argv[2], "yes") || bndr_argeq(&c->argv[2], "sync"))
            bndr_add_error(c, "ERR SCRIPT DEBUG YES/SYNC is not supported: this server has no "
                              "Lua debugger (SCRIPT DEBUG NO is accepted)");
        else
            bndr_add_error(c, "ERR Use SCRIPT DEBUG YES/SYNC/NO");
    } else {
        bndr_add_errorf(c, "ERR unknown subcommand '%.*s'. Try SCRIPT HELP.",
                        (int)(sub->n > 128 ? 128 : sub->n), sub->p);
    }
}

int bndr_script_running(void)
{
    return sc.running;
}

/* ---------------------------------------------------------------- FUNCTION / FCALL
 * Libraries (FUNCTION LOAD "#!lua name=<lib>\n…") run once when loaded; each
 * redis.register_function(name, callback) or register_function{function_name=, callback=,
 * flags=, description=} registers a function that FCALL / FCALL_RO call as callback(keys, args)
 * on the same machinery as EVAL (sandbox, atomicity, busy limit, AOF effects). The library
 * source is kept here, outside the Lua state: SCRIPT FLUSH, which drops the state, reloads the
 * libraries into the new one. Persistence: FUNCTION LOAD/DELETE/FLUSH/RESTORE go to the AOF like
 * writes, the AOF rewrite and the snapshot write one FUNCTION LOAD per library
 * (bndr_functions_each / bndr_function_load_code). */
struct ffn {
    char *name;
    char *desc;     /* NULL: none */
    unsigned flags; /* FFL_* */
    int ref;        /* registry ref of the callback in the current state, LUA_NOREF if none */
};
struct flib {
    char *name;
    char *code;
    size_t codelen;
    struct ffn *fns;
    int nfns;
};
enum { FFL_NO_WRITES = 1, FFL_ALLOW_OOM = 2, FFL_ALLOW_STALE = 4, FFL_NO_CLUSTER = 8,
       FFL_CROSS_SLOT = 16 };
static const char *const ffl_names[] = {"no-writes", "allow-oom", "allow-stale", "no-cluster",
                                        "allow-cross-slot-keys", NULL};
static struct {
    struct bndr_dict libs; /* name -> struct flib * */
    struct bndr_dict fns;  /* function name -> struct flib * */
    int init;
    struct flib *loading;  /* the library whose code runs now (FUNCTION LOAD) */
    char err[512];         /* the registration error of the code running now */
} fx;

static void fx_init(void)
{
    if (fx.init) return;
    bndr_dict_init(&fx.libs);
    bndr_dict_init(&fx.fns);
    fx.init = 1;
}

static void flib_free(struct flib *l)
{
    if (!l) return;
    for (int i = 0; i < l->nfns; i++) {
        if (sc.L && l->fns[i].ref != LUA_NOREF) luaL_unref(sc.L, LUA_REGISTRYINDEX, l->fns[i].ref);
        bndr_free(l->fns[i].name);
        bndr_free(l->fns[i].desc);
    }
    bndr_free(l->fns);
    bndr_free(l->name);
    bndr_free(l->code);
    bndr_free(l);
}

static int fn_name_ok(const char *p, size_t n)
{
    if (n == 0) return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = p[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '_'))
            return 0;
    }
    return 1;
}

/* redis.register_function — only while a library loads. */
static int l_register_function(lua_State *L)
{
    struct flib *lib = fx.loading;
    if (!lib) return raise_error(L, "redis.register_function can only be called on FUNCTION LOAD command");
    const char *name = NULL, *desc = NULL;
    size_t nl = 0;
    unsigned flags = 0;
    int cb;
    if (lua_gettop(L) == 1 && lua_istable(L, 1)) {
        lua_getfield(L, 1, "function_name");
        lua_getfield(L, 1, "callback");
        lua_getfield(L, 1, "description");
        lua_getfield(L, 1, "flags");
        if (lua_isstring(L, -2)) desc = lua_tostring(L, -2);
        if (!lua_isnil(L, -1)) {
            if (!lua_istable(L, -1)) return raise_error(L, "flags argument to redis.register_function must be a table representing function flags");
            for (int i = 1;; i++) {
                lua_rawgeti(L, -1, i);
                if (lua_isnil(L, -1)) {
                    lua_pop(L, 1);
                    break;
                }
                const char *f = lua_tostring(L, -1);
                int k = 0;
                while (f && ffl_names[k] && strcmp(ffl_names[k], f)) k++;
                if (!f || !ffl_names[k]) return raise_error(L, "unknown flag given");
                flags |= 1u << k;
                lua_pop(L, 1);
            }
        }
        if (lua_type(L, -4) != LUA_TSTRING) return raise_error(L, "function_name argument given to redis.register_function must be a string");
        name = lua_tolstring(L, -4, &nl);
        cb = lua_gettop(L) - 2;
    } else if (lua_gettop(L) == 2) {
        if (lua_type(L, 1) != LUA_TSTRING) return raise_error(L, "function_name argument given to redis.register_function must be a string");
        name = lua_tolstring(L, 1, &nl);
        cb = 2;
    } else {
        return raise_error(L, "wrong number of arguments to redis.register_function");
    }
    if (!lua_isfunction(L, cb)) return raise_error(L, "callback argument given to redis.register_function must be a function");
    if (!fn_name_ok(name, nl)) /* sic: Redis 7.0 words it so for function names too */
        return raise_error(L, "Library names can only contain letters, numbers, or underscores(_) and must be at least one character long");
    for (int i = 0; i < lib->nfns; i++)
        if (strlen(lib->fns[i].name) == nl && !memcmp(lib->fns[i].name, name, nl))
            return raise_error(L, "Function already exists in the library");
    if (lib->nfns >= 10000) return raise_error(L, "too many functions in one library");
    lib->fns = bndr_realloc(lib->fns, (size_t)(lib->nfns + 1) * sizeof *lib->fns);
    struct ffn *f = &lib->fns[lib->nfns++];
    f->name = bndr_memdup(name, nl);
    f->desc = desc ? bndr_memdup(desc, strlen(desc)) : NULL;
    f->flags = flags;
    lua_pushvalue(L, cb);
    f->ref = luaL_ref(L, LUA_REGISTRYINDEX);
    return 0;
}

/* Compiles and runs lib's code, registering its functions into lib. 0, or -1 with fx.err. */
static int flib_run(struct flib *lib, size_t body_off)
{
    lua_State *L = sc.L;
    /* the shebang line compiles as an empty line, so line numbers stay the code's */
    if (luaL_loadbuffer(L, lib->code + body_off, lib->codelen - body_off, "@user_function")) {
        snprintf(fx.err, sizeof fx.err, "ERR Error compiling function: %s", lua_tostring(L, -1));
        lua_pop(L, 1);
        return -1;
    }
    lua_getfield(L, LUA_REGISTRYINDEX, "proxy");
    lua_setfenv(L, -2);
    fx.loading = lib;
    sc.readonly = 1; /* no redis.call writes while loading */
    int err = lua_pcall(L, 0, 0, 0);
    fx.loading = NULL;
    if (err) {
        const char *m = NULL;
        if (lua_istable(L, -1)) {
            lua_getfield(L, -1, "err");
            m = lua_tostring(L, -1);
            lua_pop(L, 1);
        } else {
            m = lua_tostring(L, -1);
        }
        snprintf(fx.err, sizeof fx.err, "ERR Error registering functions: %s", m ? m : "error");
        lua_pop(L, 1);
        return -1;
    }
    if (lib->nfns == 0) {
        snprintf(fx.err, sizeof fx.err, "ERR No functions registered");
        return -1;
    }
    return 0;
}

/* Parses "#!lua name=<lib>": the name into name (NUL-terminated) and the offset of the line end. */
static long flib_meta(const char *code, size_t n, char *name, size_t cap)
{
    if (n < 2 || code[0] != '#' || code[1] != '!') {
        snprintf(fx.err, sizeof fx.err, "ERR Missing library metadata");
        return -1;
    }
    const char *nl = memchr(code, '\n', n);
    size_t ln = nl ? (size_t)(nl - code) : n;
    char line[512];
    if (ln - 2 >= sizeof line) {
        snprintf(fx.err, sizeof fx.err, "ERR Invalid library metadata");
        return -1;
    }
    memcpy(line, code + 2, ln - 2);
    line[ln - 2] = 0;
    char *save = NULL, *tok = strtok_r(line, " ", &save);
    if (!tok || strcmp(tok, "lua")) {
        snprintf(fx.err, sizeof fx.err, "ERR Engine '%s' not found", tok ? tok : "");
        return -1;
    }
    name[0] = 0;
    while ((tok = strtok_r(NULL, " ", &save))) {
        if (!strncmp(tok, "name=", 5) && strlen(tok + 5) < cap) {
            snprintf(name, cap, "%s", tok + 5);
        } else {
            snprintf(fx.err, sizeof fx.err, "ERR Invalid metadata value given: %s", tok);
            return -1;
        }
    }
    if (!name[0]) {
        snprintf(fx.err, sizeof fx.err, "ERR Library name was not given");
        return -1;
    }
    if (!fn_name_ok(name, strlen(name))) {
        snprintf(fx.err, sizeof fx.err, "ERR Library names can only contain letters, numbers, or underscores(_) and must be at least one character long");
        return -1;
    }
    return (long)ln;
}

static void flib_unlink(struct flib *l)
{
    for (int i = 0; i < l->nfns; i++) {
        struct bndr_de *e = bndr_dict_unlink(&fx.fns, l->fns[i].name, strlen(l->fns[i].name));
        bndr_free(e);
    }
    struct bndr_de *e = bndr_dict_unlink(&fx.libs, l->name, strlen(l->name));
    bndr_free(e);
}

/* FUNCTION LOAD: 0 and the library name in *out, or -1 with fx.err. */
static int flib_load(const char *code, size_t n, int replace, const char **out)
{
    fx_init();
    ensure_state();
    char name[256];
    long off = flib_meta(code, n, name, sizeof name);
    if (off < 0) return -1;
    struct bndr_de *old = bndr_dict_find(&fx.libs, name, strlen(name));
    if (old && !replace) {
        snprintf(fx.err, sizeof fx.err, "ERR Library '%s' already exists", name);
        return -1;
    }
    struct flib *lib = bndr_calloc(sizeof *lib);
    lib->name = bndr_memdup(name, strlen(name));
    lib->code = bndr_memdup(code, n);
    lib->codelen = n;
    int saved_ro = sc.readonly;
    int rc = flib_run(lib, (size_t)off);
    sc.readonly = saved_ro;
    struct flib *prev = old ? old->v.p : NULL;
    for (int i = 0; rc == 0 && i < lib->nfns; i++) {
        struct bndr_de *e = bndr_dict_find(&fx.fns, lib->fns[i].name, strlen(lib->fns[i].name));
        if (e && e->v.p != prev) {
            snprintf(fx.err, sizeof fx.err, "ERR Function %s already exists", lib->fns[i].name);
            rc = -1;
        }
    }
    if (rc < 0) {
        flib_free(lib);
        return -1;
    }
    if (prev) {
        flib_unlink(prev);
        flib_free(prev);
    }
    bndr_dict_upsert(&fx.libs, lib->name, strlen(lib->name), NULL)->v.p = lib;
    for (int i = 0; i < lib->nfns; i++)
        bndr_dict_upsert(&fx.fns, lib->fns[i].name, strlen(lib->fns[i].name), NULL)->v.p = lib;
    *out = lib->name;
    return 0;
}

static void flib_flush(void)
{
    fx_init();
    BNDR_DICT_FOREACH(&fx.libs, e) { flib_free(e->v.p); }
    bndr_dict_release(&fx.libs, NULL);
    bndr_dict_release(&fx.fns, NULL);
    bndr_dict_init(&fx.libs);
    bndr_dict_init(&fx.fns);
}

/* A new Lua state (SCRIPT FLUSH dropped the old one): run every library again. */
static void flib_reload_all(void)
{
    if (!fx.init || !fx.libs.n) return;
    BNDR_DICT_FOREACH(&fx.libs, e)
    {
        struct flib *l = e->v.p;
        for (int i = 0; i < l->nfns; i++) {
            bndr_free(l->fns[i].name);
            bndr_free(l->fns[i].desc);
        }
        bndr_free(l->fns);
        l->fns = NULL;
        l->nfns = 0;
        char name[256];
        long off = flib_meta(l->code, l->codelen, name, sizeof name);
        if (off < 0 || flib_run(l, (size_t)off) < 0)
            bb_error("bunder", "function_reload_failed library=%s err=\"%s\"", l->name, fx.err);
    }
    sc.readonly = 0;
}

int bndr_functions_each(int (*fn)(void *arg, const char *code, size_t n), void *arg)
{
    if (!fx.init) return 0;
    BNDR_DICT_FOREACH(&fx.libs, e)
    {
        struct flib *l = e->v.p;
        if (fn(arg, l->code, l->codelen) < 0) return -1;
    }
    return 0;
}

int bndr_function_load_code(const char *code, size_t n, char *err, size_t errcap)
{
    const char *name;
    if (flib_load(code, n, 1, &name) < 0) {
        snprintf(err, errcap, "%s", fx.err);
        return -1;
    }
    return 0;
}

static struct ffn *fn_find(const char *p, size_t n)
{
    if (!fx.init) return NULL;
    struct bndr_de *e = bndr_dict_find(&fx.fns, p, n);
    if (!e) return NULL;
    struct flib *l = e->v.p;
    for (int i = 0; i < l->nfns; i++)
        if (strlen(l->fns[i].name) == n && !memcmp(l->fns[i].name, p, n)) return &l->fns[i];
    return NULL;
}

static void fcall_generic(struct bndr_client *c, int readonly)
{
    long long numkeys;
    if (bndr_get_ll_or_reply(c, &c->argv[2], &numkeys, "ERR Bad number of keys provided") < 0)
        return;
    if (numkeys > c->argc - 3) {
        bndr_add_error(c, "ERR Number of keys can't be greater than number of args");
        return;
    }
    if (numkeys < 0) {
        bndr_add_error(c, "ERR Number of keys can't be negative");
        return;
    }
    ensure_state();
    struct ffn *f = fn_find(c->argv[1].p, c->argv[1].n);
    if (!f || f->ref == LUA_NOREF) {
        bndr_add_error(c, "ERR Function not found");
        return;
    }
    if (readonly && !(f->flags & FFL_NO_WRITES)) {
        bndr_add_error(c, "ERR Can not execute a script with write flag using *_ro command.");
        return;
    }
    lua_State *L = sc.L;
    lua_rawgeti(L, LUA_REGISTRYINDEX, sc.errh_ref);
    lua_rawgeti(L, LUA_REGISTRYINDEX, f->ref);
    for (int part = 0; part < 2; part++) {
        int from = part ? 3 + (int)numkeys : 3, to = part ? c->argc : 3 + (int)numkeys;
        lua_createtable(L, to - from, 0);
        for (int i = from; i < to; i++) {
            lua_pushlstring(L, c->argv[i].p, c->argv[i].n);
            lua_rawseti(L, -2, i - from + 1);
        }
    }
    run_pushed(c, 2, f->name, readonly || (f->flags & FFL_NO_WRITES));
}

void bndr_cmd_fcall(struct bndr_client *c)
{
    fcall_generic(c, 0);
}

void bndr_cmd_fcall_ro(struct bndr_client *c)
{
    fcall_generic(c, 1);
}

/* FUNCTION DUMP payload, as Redis 7.0: per library the RDB opcode FUNCTION2 (245) and the code as
 * an RDB string (written uncompressed; LZF-compressed ones are read), then the RDB version (2
 * bytes LE, 10) and the CRC64 (8 bytes LE) of everything before. */
static void rdb_put_len(struct bndr_buf *b, uint64_t n)
{
    unsigned char h[9];
    if (n < 64) {
        h[0] = (unsigned char)n;
        bndr_buf_add(b, h, 1);
    } else if (n < 16384) {
        h[0] = (unsigned char)(0x40 | (n >> 8));
        h[1] = (unsigned char)n;
        bndr_buf_add(b, h, 2);
    } else if (n <= 0xffffffffULL) {
        h[0] = 0x80;
        for (int i = 0; i < 4; i++) h[1 + i] = (unsigned char)(n >> (24 - 8 * i));
        bndr_buf_add(b, h, 5);
    } else {
        h[0] = 0x81;
        for (int i = 0; i < 8; i++) h[1 + i] = (unsigned char)(n >> (56 - 8 * i));
        bndr_buf_add(b, h, 9);
    }
}

static int dump_one(void *arg, const char *code, size_t n)
{
    struct bndr_buf *b = arg;
    unsigned char op = 245;
    bndr_buf_add(b, &op, 1);
    rdb_put_len(b, n);
    bndr_buf_add(b, code, n);
    return 0;
}

/* Reads one RDB string at p[*pos] (plain or LZF); returns an owned copy or NULL. */
static char *rdb_get_str(const unsigned char *p, size_t n, size_t *pos, size_t *outn)
{
    if (*pos >= n) return NULL;
    unsigned char t = p[*pos];
    uint64_t len;
    int enc = (t >> 6) == 3;
    if ((t >> 6) == 0) {
        len = t & 0x3f;
        *pos += 1;
    } else if ((t >> 6) == 1) {
        if (n - *pos < 2) return NULL;
        len = (uint64_t)(t & 0x3f) << 8 | p[*pos + 1];
        *pos += 2;
    } else if (t == 0x80 || t == 0x81) {
        int w = t == 0x80 ? 4 : 8;
        if (n - *pos < (size_t)w + 1) return NULL;
        len = 0;
        for (int i = 0; i < w; i++) len = len << 8 | p[*pos + 1 + (size_t)i];
        *pos += (size_t)w + 1;
    } else if (enc && (t & 0x3f) == 3) { /* LZF: compressed length, plain length, data */
        *pos += 1;
        uint64_t v[2];
        for (int k = 0; k < 2; k++) {
            if (*pos >= n) return NULL;
            unsigned char x = p[*pos];
            if ((x >> 6) == 0) {
                v[k] = x & 0x3f;
                *pos += 1;
            } else if ((x >> 6) == 1) {
                if (n - *pos < 2) return NULL;
                v[k] = (uint64_t)(x & 0x3f) << 8 | p[*pos + 1];
                *pos += 2;
            } else if (x == 0x80) {
                if (n - *pos < 5) return NULL;
                v[k] = (uint64_t)p[*pos + 1] << 24 | (uint64_t)p[*pos + 2] << 16 |
                       (uint64_t)p[*pos + 3] << 8 | p[*pos + 4];
                *pos += 5;
            } else {
                return NULL;
            }
        }
        size_t cl = (size_t)v[0], ul = (size_t)v[1];
        if (cl > n - *pos || ul > (64u << 20)) return NULL;
        char *tmp = bndr_malloc(ul + 1);
        if (bndr_lzf_decompress(p + *pos, cl, (unsigned char *)tmp, ul) != ul) {
            bndr_free(tmp);
            return NULL;
        }
        *pos += cl;
        tmp[ul] = 0;
        *outn = ul;
        return tmp;
    } else {
        return NULL; /* integer-encoded strings are never function code */
    }
    if (len > n - *pos) return NULL;
    char *s = bndr_malloc((size_t)len + 1);
    memcpy(s, p + *pos, (size_t)len);
    s[len] = 0;
    *pos += (size_t)len;
    *outn = (size_t)len;
    return s;
}

static void function_restore(struct bndr_client *c)
{
    const unsigned char *p = (const unsigned char *)c->argv[2].p;
    size_t n = c->argv[2].n;
    int policy = 0; /* 0 APPEND, 1 REPLACE, 2 FLUSH */
    if (c->argc == 4) {
        if (bndr_argeq(&c->argv[3], "append")) policy = 0;
        else if (bndr_argeq(&c->argv[3], "replace")) policy = 1;
        else if (bndr_argeq(&c->argv[3], "flush")) policy = 2;
        else {
            bndr_add_error(c, "ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.");
            return;
        }
    } else if (c->argc > 4) {
        bndr_add_error(c, BNDR_ERR_SYNTAX);
        return;
    }
    if (n < 10 || p[n - 10] != 10 || p[n - 9] != 0) {
        bndr_add_error(c, "ERR DUMP payload version or checksum are wrong");
        return;
    }
    uint64_t crc = bndr_crc64(0, p, n - 8), want = 0;
    for (int i = 0; i < 8; i++) want |= (uint64_t)p[n - 8 + (size_t)i] << (8 * i);
    if (crc != want) {
        bndr_add_error(c, "ERR DUMP payload version or checksum are wrong");
        return;
    }
    /* parse everything first: all or nothing */
    char **codes = NULL;
    size_t *lens = NULL;
    int nc = 0;
    size_t pos = 0;
    int bad = 0;
    while (pos < n - 10 && !bad) {
        if (p[pos] != 245 || nc >= 100000) {
            bad = 1;
            break;
        }
        pos++;
        size_t cl;
        char *code = rdb_get_str(p, n - 10, &pos, &cl);
        if (!code) {
            bad = 1;
            break;
        }
        codes = bndr_realloc(codes, (size_t)(nc + 1) * sizeof *codes);
        lens = bndr_realloc(lens, (size_t)(nc + 1) * sizeof *lens);
        codes[nc] = code;
        lens[nc++] = cl;
    }
    if (bad) {
        bndr_add_error(c, "ERR given type is not a function");
    } else {
        fx_init();
        if (policy == 0) { /* APPEND: any existing library or function name fails the lot */
            for (int i = 0; i < nc && !bad; i++) {
                char name[256];
                if (flib_meta(codes[i], lens[i], name, sizeof name) < 0) {
                    bndr_add_error(c, fx.err);
                    bad = 1;
                } else if (bndr_dict_find(&fx.libs, name, strlen(name))) {
                    bndr_add_errorf(c, "ERR Library %s already exists", name);
                    bad = 1;
                }
            }
        }
        if (!bad) {
            if (policy == 2) flib_flush();
            const char *name;
            for (int i = 0; i < nc && !bad; i++)
                if (flib_load(codes[i], lens[i], 1, &name) < 0) {
                    bndr_add_error(c, fx.err);
                    bad = 1;
                }
            if (!bad) {
                c->srv->dirty++;
                bndr_add_ok(c);
            }
        }
    }
    for (int i = 0; i < nc; i++) bndr_free(codes[i]);
    bndr_free(codes);
    bndr_free(lens);
}

static const char *const function_help[] = {
    "FUNCTION <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "LOAD [REPLACE] <FUNCTION CODE>",
    "    Create a new library with the given library name and code.",
    "DELETE <LIBRARY NAME>",
    "    Delete the given library.",
    "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
    "    Return general information on all the libraries:",
    "    * Library name",
    "    * The engine used to run the Library",
    "    * Library description",
    "    * Functions list",
    "    * Library code (if WITHCODE is given)",
    "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
    "STATS",
    "    Return information about the current function running:",
    "    * Function name",
    "    * Command used to run the function",
    "    * Duration in MS that the function is running",
    "    If no function is running, return nil",
    "    In addition, returns a list of available engines.",
    "KILL",
    "    Kill the current running function.",
    "FLUSH [ASYNC|SYNC]",
    "    Delete all the libraries.",
    "    When called without the optional mode argument, the behavior is determined by the",
    "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
    "    * ASYNC: Asynchronously flush the libraries.",
    "    * SYNC: Synchronously flush the libraries.",
    "DUMP",
    "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
    "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
    "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
    "    control how to handle existing libraries (default APPEND):",
    "    * FLUSH: delete all existing libraries.",
    "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
    "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
    "      libraries with the new libraries (notice that even on this option there is a chance of failure",
    "      in case of functions name collision with another library).",
    "HELP",
    "    Prints this help.",
    NULL};

static void function_list(struct bndr_client *c)
{
    const char *pat = NULL;
    size_t patn = 0;
    int withcode = 0;
    for (int i = 2; i < c->argc; i++) {
        if (bndr_argeq(&c->argv[i], "withcode") && !withcode) {
            withcode = 1;
        } else if (bndr_argeq(&c->argv[i], "libraryname") && !pat && i + 1 < c->argc) {
            pat = c->argv[++i].p;
            patn = c->argv[i].n;
        } else {
            bndr_add_errorf(c, "ERR Unknown argument %.*s",
                            (int)(c->argv[i].n > 64 ? 64 : c->argv[i].n), c->argv[i].p);
            return;
        }
    }
    fx_init();
    size_t h = bndr_add_deferred_len(c);
    long n = 0;
    BNDR_DICT_FOREACH(&fx.libs, e)
    {
        struct flib *l = e->v.p;
        if (pat && !bndr_glob(pat, patn, l->name, strlen(l->name), 0)) continue;
        n++;
        bndr_add_map(c, withcode ? 4 : 3);
        bndr_add_bulk_cstr(c, "library_name");
        bndr_add_bulk_cstr(c, l->name);
        bndr_add_bulk_cstr(c, "engine");
        bndr_add_bulk_cstr(c, "LUA");
        bndr_add_bulk_cstr(c, "functions");
        bndr_add_array(c, l->nfns);
        for (int i = 0; i < l->nfns; i++) {
            struct ffn *f = &l->fns[i];
            bndr_add_map(c, 3);
            bndr_add_bulk_cstr(c, "name");
            bndr_add_bulk_cstr(c, f->name);
            bndr_add_bulk_cstr(c, "description");
            if (f->desc) bndr_add_bulk_cstr(c, f->desc);
            else bndr_add_null(c);
            bndr_add_bulk_cstr(c, "flags");
            int nf = 0;
            for (int k = 0; ffl_names[k]; k++) nf += (f->flags >> k) & 1;
            bndr_add_set(c, nf);
            for (int k = 0; ffl_names[k]; k++)
                if ((f->flags >> k) & 1) bndr_add_bulk_cstr(c, ffl_names[k]);
        }
        if (withcode) {
            bndr_add_bulk_cstr(c, "library_code");
            bndr_add_bulk(c, l->code, l->codelen);
        }
    }
    bndr_set_deferred_len(c, h, n, '*');
}

void bndr_cmd_function(struct bndr_client *c)
{
    struct bndr_arg *sub = &c->argv[1];
    struct bndr_server *s = c->srv;
    fx_init();
    if (bndr_argeq(sub, "load") && (c->argc == 3 || c->argc == 4)) {
        int replace = 0;
        if (c->argc == 4) {
            if (!bndr_argeq(&c->argv[2], "replace")) {
                bndr_add_errorf(c, "ERR Unknown option given: %.*s",
                                (int)(c->argv[2].n > 64 ? 64 : c->argv[2].n), c->argv[2].p);
                return;
            }
            replace = 1;
        }
        const char *name;
        const struct bndr_arg *code = &c->argv[c->argc - 1];
        if (flib_load(code->p, code->n, replace, &name) < 0) {
            bndr_add_error(c, fx.err);
            return;
        }
        s->dirty++;
        bndr_add_bulk_cstr(c, name);
    } else if (bndr_argeq(sub, "delete") && c->argc == 3) {
        struct bndr_de *e = bndr_dict_find(&fx.libs, c->argv[2].p, c->argv[2].n);
        if (!e) {
            bndr_add_error(c, "ERR Library not found");
            return;
        }
        struct flib *l = e->v.p;
        flib_unlink(l);
        flib_free(l);
        s->dirty++;
        bndr_add_ok(c);
    } else if (bndr_argeq(sub, "flush") && c->argc <= 3) {
        if (c->argc == 3 && !bndr_argeq(&c->argv[2], "sync") && !bndr_argeq(&c->argv[2], "async")) {
            bndr_add_error(c, "ERR FUNCTION FLUSH only supports SYNC|ASYNC option");
            return;
        }
        flib_flush();
        s->dirty++;
        bndr_add_ok(c);
    } else if (bndr_argeq(sub, "list")) {
        function_list(c);
    } else if (bndr_argeq(sub, "stats") && c->argc == 2) {
        long nf = 0;
        BNDR_DICT_FOREACH(&fx.libs, e) { nf += ((struct flib *)e->v.p)->nfns; }
        bndr_add_map(c, 2);
        bndr_add_bulk_cstr(c, "running_script");
        bndr_add_null(c);
        bndr_add_bulk_cstr(c, "engines");
        bndr_add_map(c, 1);
        bndr_add_bulk_cstr(c, "LUA");
        bndr_add_map(c, 2);
        bndr_add_bulk_cstr(c, "libraries_count");
        bndr_add_ll(c, (long long)fx.libs.n);
        bndr_add_bulk_cstr(c, "functions_count");
        bndr_add_ll(c, nf);
    } else if (bndr_argeq(sub, "kill") && c->argc == 2) {
        if (!sc.running) bndr_add_error(c, "NOTBUSY No scripts in execution right now.");
        else if (sc.wrote) bndr_add_error(c, "UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.");
        else {
            sc.killed = 1;
            bndr_add_ok(c);
        }
    } else if (bndr_argeq(sub, "dump") && c->argc == 2) {
        struct bndr_buf b = {0};
        bndr_functions_each(dump_one, &b);
        unsigned char ver[2] = {10, 0};
        bndr_buf_add(&b, ver, 2);
        uint64_t crc = bndr_crc64(0, b.p, b.len);
        unsigned char cb[8];
        for (int i = 0; i < 8; i++) cb[i] = (unsigned char)(crc >> (8 * i));
        bndr_buf_add(&b, cb, 8);
        bndr_add_bulk(c, b.p, b.len);
        bndr_free(b.p);
    } else if (bndr_argeq(sub, "restore") && c->argc >= 3) {
        function_restore(c);
    } else if (bndr_argeq(sub, "help") && c->argc == 2) {
        long n = 0;
        while (function_help[n]) n++;
        bndr_add_array(c, n);
        for (long i = 0; i < n; i++) bndr_add_status(c, function_help[i]);
    } else {
        bndr_sub_error(c, "FUNCTION", "load delete flush list stats kill dump restore help");
    }
}
