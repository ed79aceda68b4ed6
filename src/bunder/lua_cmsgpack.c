/* lua_cmsgpack.c — the `cmsgpack` library Redis gives Lua scripts (pack, unpack, unpack_one,
 * unpack_limit), written here because Debian packages no Lua binding for MessagePack. It follows
 * Redis' deps/lua/src/lua_cmsgpack.c byte for byte on the encoding side, so a script packs the
 * same bytes as in Redis:
 *
 *   nil 0xc0, false 0xc2, true 0xc3;
 *   a number equal to a 64-bit integer: the smallest int form (positive fixint, 0xcc-0xcf
 *   uint8-64, negative fixint, 0xd0-0xd3 int8-64); other numbers float32 (0xca) when that is
 *   exact, else float64 (0xcb), big-endian;
 *   a string: fixstr (< 32 bytes), str8 0xd9, str16 0xda, str32 0xdb;
 *   a table whose keys are exactly 1..n: an array (fixarray, 0xdc, 0xdd), else a map (fixmap,
 *   0xde, 0xdf); tables nested deeper than 16 levels, functions, userdata: nil.
 *
 * Decoding accepts what Redis' copy accepts: every MessagePack type but bin and ext (uint64 past
 * 2^53 loses precision as a Lua number) and fails with "Missing bytes in input." or "Bad data
 * format in input." as Redis. Bounds: nesting of at most 1000 levels when decoding (the Lua
 * stack grows one slot per level), every count checked against the bytes left before anything is
 * allocated; the Lua heap itself is bounded by lua-memory-limit.
 */
#include <lauxlib.h>
#include <lua.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "bndr.h"

#define PACK_MAX_NESTING 16
#define UNPACK_MAX_NESTING 1000

/* ---------------------------------------------------------------- encoding */
/* Encoding goes to a C buffer (luaL_Buffer keeps pieces on the Lua stack, which the table walk
 * also uses) and never raises a Lua error, so the buffer is always freed. */
static void put(struct bndr_buf *b, const void *p, size_t n)
{
    bndr_buf_add(b, p, n);
}

static void put_be(struct bndr_buf *b, unsigned char tag, uint64_t v, int bytes)
{
    unsigned char buf[9];
    buf[0] = tag;
    for (int i = 0; i < bytes; i++)
        buf[1 + i] = (unsigned char)(v >> (8 * (bytes - 1 - i)));
    put(b, buf, (size_t)bytes + 1);
}

static void enc_int(struct bndr_buf *b, int64_t v)
{
    unsigned char c;
    if (v >= 0) {
        if (v <= 127) {
            c = (unsigned char)v;
            put(b, &c, 1);
        } else if (v <= 0xff) put_be(b, 0xcc, (uint64_t)v, 1);
        else if (v <= 0xffff) put_be(b, 0xcd, (uint64_t)v, 2);
        else if (v <= 0xffffffffLL) put_be(b, 0xce, (uint64_t)v, 4);
        else put_be(b, 0xcf, (uint64_t)v, 8);
    } else {
        if (v >= -32) {
            c = (unsigned char)(0xe0 | (v & 0x1f));
            put(b, &c, 1);
        } else if (v >= -128) put_be(b, 0xd0, (uint64_t)v & 0xff, 1);
        else if (v >= -32768) put_be(b, 0xd1, (uint64_t)v & 0xffff, 2);
        else if (v >= -2147483648LL) put_be(b, 0xd2, (uint64_t)v & 0xffffffffULL, 4);
        else put_be(b, 0xd3, (uint64_t)v, 8);
    }
}

static void enc_number(struct bndr_buf *b, lua_Number n)
{
    if (!isinf(n) && !isnan(n) && n >= -9223372036854775808.0 && n < 9223372036854775808.0 &&
        (lua_Number)(int64_t)n == n) {
        enc_int(b, (int64_t)n);
        return;
    }
    float f = (float)n;
    if ((lua_Number)f == n || isnan(n)) {
        uint32_t u;
        memcpy(&u, &f, 4);
        put_be(b, 0xca, u, 4);
    } else {
        uint64_t u;
        double d = (double)n;
        memcpy(&u, &d, 8);
        put_be(b, 0xcb, u, 8);
    }
}

static void enc_len(struct bndr_buf *b, size_t n, unsigned char fix, size_t fixmax, unsigned char t8,
                    unsigned char t16, unsigned char t32)
{
    unsigned char c;
    if (n <= fixmax) {
        c = (unsigned char)(fix | n);
        put(b, &c, 1);
    } else if (t8 && n <= 0xff) put_be(b, t8, n, 1);
    else if (n <= 0xffff) put_be(b, t16, n, 2);
    else put_be(b, t32, n, 4);
}

static void enc_value(lua_State *L, struct bndr_buf *b, int idx, int level);

/* 0: a map; otherwise the array length (keys exactly 1..n; an empty table is an array). */
static int table_array_len(lua_State *L, int idx, size_t *len)
{
    size_t count = 0;
    lua_Number max = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TNUMBER) {
            lua_pop(L, 1);
            return 0;
        }
        lua_Number k = lua_tonumber(L, -1);
        if (k <= 0 || floor(k) != k) {
            lua_pop(L, 1);
            return 0;
        }
        if (k > max)
            max = k;
        count++;
    }
    *len = count;
    return (lua_Number)count == max;
}

static void enc_table(lua_State *L, struct bndr_buf *b, int idx, int level)
{
    size_t n;
    if (!lua_checkstack(L, 4)) { /* cannot walk it: nil, like a table nested too deep */
        unsigned char c = 0xc0;
        put(b, &c, 1);
        return;
    }
    if (table_array_len(L, idx, &n)) {
        enc_len(b, n, 0x90, 15, 0, 0xdc, 0xdd);
        for (size_t i = 1; i <= n; i++) {
            lua_rawgeti(L, idx, (int)i);
            enc_value(L, b, lua_gettop(L), level + 1);
            lua_pop(L, 1);
        }
        return;
    }
    size_t count = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        count++;
    }
    enc_len(b, count, 0x80, 15, 0, 0xde, 0xdf);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        int top = lua_gettop(L);
        enc_value(L, b, top - 1, level + 1);
        enc_value(L, b, top, level + 1);
        lua_pop(L, 1);
    }
}

static void enc_value(lua_State *L, struct bndr_buf *b, int idx, int level)
{
    unsigned char c;
    switch (lua_type(L, idx)) {
    case LUA_TBOOLEAN:
        c = lua_toboolean(L, idx) ? 0xc3 : 0xc2;
        put(b, &c, 1);
        return;
    case LUA_TNUMBER: enc_number(b, lua_tonumber(L, idx)); return;
    case LUA_TSTRING: {
        size_t n;
        const char *s = lua_tolstring(L, idx, &n);
        enc_len(b, n, 0xa0, 31, 0xd9, 0xda, 0xdb);
        put(b, s, n);
        return;
    }
    case LUA_TTABLE:
        if (level < PACK_MAX_NESTING) {
            enc_table(L, b, idx, level);
            return;
        }
        break;
    default: break;
    }
    c = 0xc0;
    put(b, &c, 1);
}

static int l_pack(lua_State *L)
{
    int n = lua_gettop(L);
    if (n == 0)
        return luaL_argerror(L, 0, "MessagePack pack needs input.");
    struct bndr_buf b = {0};
    for (int i = 1; i <= n; i++)
        enc_value(L, &b, i, 0);
    lua_pushlstring(L, b.p ? b.p : "", b.len);
    bndr_free(b.p);
    return 1;
}

/* ---------------------------------------------------------------- decoding */
struct dec {
    const unsigned char *p;
    size_t n, pos;
    const char *err;
};

static const char *const E_MISSING = "Missing bytes in input.";
static const char *const E_BAD = "Bad data format in input.";

static int need(struct dec *d, size_t k)
{
    if (d->n - d->pos < k) {
        d->err = E_MISSING;
        return 0;
    }
    return 1;
}

static uint64_t be(struct dec *d, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v = v << 8 | d->p[d->pos + (size_t)i];
    d->pos += (size_t)bytes;
    return v;
}

static int dec_value(lua_State *L, struct dec *d, int level);

static int dec_str(lua_State *L, struct dec *d, size_t len)
{
    if (!need(d, len))
        return -1;
    lua_pushlstring(L, (const char *)d->p + d->pos, len);
    d->pos += len;
    return 0;
}

static int dec_array(lua_State *L, struct dec *d, size_t count, int level)
{
    if (count > d->n - d->pos) { /* every element takes at least one byte */
        d->err = E_MISSING;
        return -1;
    }
    lua_createtable(L, count > 1024 ? 1024 : (int)count, 0);
    for (size_t i = 1; i <= count; i++) {
        if (dec_value(L, d, level + 1) < 0)
            return -1;
        lua_rawseti(L, -2, (int)i);
    }
    return 0;
}

static int dec_map(lua_State *L, struct dec *d, size_t count, int level)
{
    if (count > (d->n - d->pos) / 2) {
        d->err = E_MISSING;
        return -1;
    }
    lua_createtable(L, 0, count > 1024 ? 1024 : (int)count);
    for (size_t i = 0; i < count; i++) {
        if (dec_value(L, d, level + 1) < 0 || dec_value(L, d, level + 1) < 0)
            return -1;
        lua_rawset(L, -3); /* a nil or NaN key raises Lua's own error, as in Redis */
    }
    return 0;
}

static int dec_value(lua_State *L, struct dec *d, int level)
{
    if (level > UNPACK_MAX_NESTING) {
        d->err = E_BAD;
        return -1;
    }
    if (!lua_checkstack(L, 4)) {
        d->err = E_BAD;
        return -1;
    }
    if (!need(d, 1))
        return -1;
    unsigned char t = d->p[d->pos++];
    if (t <= 0x7f) {
        lua_pushnumber(L, t);
        return 0;
    }
    if (t >= 0xe0) {
        lua_pushnumber(L, (signed char)t);
        return 0;
    }
    if ((t & 0xe0) == 0xa0)
        return dec_str(L, d, t & 0x1f);
    if ((t & 0xf0) == 0x90)
        return dec_array(L, d, t & 0x0f, level);
    if ((t & 0xf0) == 0x80)
        return dec_map(L, d, t & 0x0f, level);
    static const int width[] = {1, 2, 4, 8};
    switch (t) {
    case 0xc0: lua_pushnil(L); return 0;
    case 0xc2: lua_pushboolean(L, 0); return 0;
    case 0xc3: lua_pushboolean(L, 1); return 0;
    case 0xd9: case 0xda: case 0xdb: { /* str 8/16/32 */
        int w = width[t - 0xd9];
        if (!need(d, (size_t)w))
            return -1;
        return dec_str(L, d, (size_t)be(d, w));
    }
    case 0xca: {
        if (!need(d, 4))
            return -1;
        uint32_t u = (uint32_t)be(d, 4);
        float f;
        memcpy(&f, &u, 4);
        lua_pushnumber(L, (lua_Number)f);
        return 0;
    }
    case 0xcb: {
        if (!need(d, 8))
            return -1;
        uint64_t u = be(d, 8);
        double f;
        memcpy(&f, &u, 8);
        lua_pushnumber(L, (lua_Number)f);
        return 0;
    }
    case 0xcc: case 0xcd: case 0xce: case 0xcf: {
        int w = width[t - 0xcc];
        if (!need(d, (size_t)w))
            return -1;
        lua_pushnumber(L, (lua_Number)be(d, w));
        return 0;
    }
    case 0xd0: case 0xd1: case 0xd2: case 0xd3: {
        int w = width[t - 0xd0];
        if (!need(d, (size_t)w))
            return -1;
        uint64_t u = be(d, w);
        int64_t v;
        if (w == 1) v = (int8_t)u;
        else if (w == 2) v = (int16_t)u;
        else if (w == 4) v = (int32_t)u;
        else memcpy(&v, &u, 8);
        lua_pushnumber(L, (lua_Number)v);
        return 0;
    }
    case 0xdc: case 0xdd: case 0xde: case 0xdf: {
        int w = (t & 1) ? 4 : 2;
        if (!need(d, (size_t)w))
            return -1;
        size_t cnt = (size_t)be(d, w);
        return t <= 0xdd ? dec_array(L, d, cnt, level) : dec_map(L, d, cnt, level);
    }
    default: d->err = E_BAD; return -1; /* bin, ext and 0xc1: not in Redis' cmsgpack either */
    }
}

/* Decodes up to limit values (0: all) from offset; returns how many were pushed, and the next
 * offset (-1 when the input is used up) in *next. Raises the Redis errors on bad input. */
static int unpack_n(lua_State *L, int limit, size_t offset, long long *next)
{
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    struct dec d = {(const unsigned char *)s, n, offset, NULL};
    int base = lua_gettop(L), count = 0;
    while (d.pos < d.n && (limit == 0 || count < limit)) {
        if (!lua_checkstack(L, 8))
            return luaL_error(L, "cmsgpack: too many values to unpack");
        if (dec_value(L, &d, 0) < 0) {
            lua_settop(L, base);
            return luaL_error(L, "%s", d.err ? d.err : E_BAD);
        }
        count++;
    }
    *next = d.pos < d.n ? (long long)d.pos : -1;
    return count;
}

static int l_unpack(lua_State *L)
{
    long long next;
    return unpack_n(L, 0, 0, &next);
}

/* As Redis' mp_unpack_full: limit 0 with offset 0 decodes everything and returns no offset;
 * otherwise at most limit values (0: none) are decoded and the next offset (-1 at the end)
 * comes first. */
static int l_unpack_limit_at(lua_State *L, int limit, int offarg)
{
    lua_Number off = luaL_optnumber(L, offarg, 0);
    size_t n;
    luaL_checklstring(L, 1, &n);
    if (off < 0 || limit < 0)
        return luaL_error(L, "Invalid request to unpack with offset of %d and limit of %d.",
                          (int)off, (int)n);
    if (off > (lua_Number)n)
        return luaL_error(L, "Start offset %d greater than input length %d.", (int)off, (int)n);
    lua_settop(L, 1);
    long long next;
    if (limit == 0 && off == 0)
        return unpack_n(L, 0, 0, &next);
    lua_pushnil(L); /* slot for the offset */
    int count = limit == 0 ? 0 : unpack_n(L, limit, (size_t)off, &next);
    if (limit == 0)
        next = off >= (lua_Number)n ? -1 : (long long)off;
    lua_pushnumber(L, (lua_Number)next);
    lua_replace(L, 2);
    return count + 1;
}

static int l_unpack_one(lua_State *L)
{
    return l_unpack_limit_at(L, 1, 2);
}

static int l_unpack_limit(lua_State *L)
{
    lua_Number limit = luaL_checknumber(L, 2);
    lua_remove(L, 2);
    return l_unpack_limit_at(L, (int)limit, 2);
}

int bndr_luaopen_cmsgpack(lua_State *L); /* declared in cmd_script.c, its only caller */

int bndr_luaopen_cmsgpack(lua_State *L)
{
    static const luaL_Reg fns[] = {{"pack", l_pack},
                                   {"unpack", l_unpack},
                                   {"unpack_one", l_unpack_one},
                                   {"unpack_limit", l_unpack_limit},
                                   {NULL, NULL}};
    lua_newtable(L);
    for (const luaL_Reg *r = fns; r->name; r++) {
        lua_pushcfunction(L, r->func);
        lua_setfield(L, -2, r->name);
    }
    lua_pushliteral(L, "lua-cmsgpack");
    lua_setfield(L, -2, "_NAME");
    lua_pushliteral(L, "lua-cmsgpack 0.4.0");
    lua_setfield(L, -2, "_VERSION");
    return 1;
}
