/* cmd_geo.c — geo commands on a sorted set, as Redis 7.0: a position is the zset score holding
 * Redis' 52-bit interleaved geohash (26 steps over longitude [-180,180] and latitude
 * [-85.05112878,85.05112878]), so scores, GEOHASH strings, positions and distances agree with
 * redis-server. Searches cover the centre geohash box and its 8 neighbours at the step Redis
 * estimates for the radius (geohash.c, geohash_helper.c and geo.c transcribed: same boxes, same
 * visiting order, same haversine on the same Earth radius). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bndr.h"
#include "cmds.h"

#define GEO_STEP_MAX 26
#define GEO_LAT_MIN -85.05112878
#define GEO_LAT_MAX 85.05112878
#define GEO_LONG_MIN -180
#define GEO_LONG_MAX 180
#define D_R (M_PI / 180.0)
static const double EARTH_RADIUS_IN_METERS = 6372797.560856;
static const double MERCATOR_MAX = 20037726.37;

struct gh_bits {
    uint64_t bits;
    uint8_t step;
};
struct gh_range {
    double min, max;
};
struct gh_area {
    struct gh_bits hash;
    struct gh_range lon, lat;
};
struct gh_neighbors {
    struct gh_bits north, east, west, south, north_east, south_east, north_west, south_west;
};

static uint64_t interleave64(uint32_t xlo, uint32_t ylo)
{
    static const uint64_t B[] = {0x5555555555555555ULL, 0x3333333333333333ULL, 0x0F0F0F0F0F0F0F0FULL,
                                 0x00FF00FF00FF00FFULL, 0x0000FFFF0000FFFFULL};
    static const unsigned int S[] = {1, 2, 4, 8, 16};
    uint64_t x = xlo, y = ylo;
    for (int i = 4; i >= 0; i--) {
        x = (x | (x << S[i])) & B[i];
        y = (y | (y << S[i])) & B[i];
    }
    return x | (y << 1);
}

static uint64_t deinterleave64(uint64_t interleaved)
{
    static const uint64_t B[] = {0x5555555555555555ULL, 0x3333333333333333ULL, 0x0F0F0F0F0F0F0F0FULL,
                                 0x00FF00FF00FF00FFULL, 0x0000FFFF0000FFFFULL, 0x00000000FFFFFFFFULL};
    static const unsigned int S[] = {0, 1, 2, 4, 8, 16};
    uint64_t x = interleaved, y = interleaved >> 1;
    for (int i = 0; i < 6; i++) {
        x = (x | (x >> S[i])) & B[i];
        y = (y | (y >> S[i])) & B[i];
    }
    return x | (y << 32);
}

static int gh_encode(const struct gh_range *lonr, const struct gh_range *latr, double lon, double lat,
                     uint8_t step, struct gh_bits *h)
{
    if (step > 32 || step == 0)
        return 0;
    if (lon > GEO_LONG_MAX || lon < GEO_LONG_MIN || lat > GEO_LAT_MAX || lat < GEO_LAT_MIN)
        return 0;
    h->bits = 0;
    h->step = step;
    if (lat < latr->min || lat > latr->max || lon < lonr->min || lon > lonr->max)
        return 0;
    double lat_offset = (lat - latr->min) / (latr->max - latr->min);
    double lon_offset = (lon - lonr->min) / (lonr->max - lonr->min);
    lat_offset *= (double)(1ULL << step);
    lon_offset *= (double)(1ULL << step);
    h->bits = interleave64((uint32_t)lat_offset, (uint32_t)lon_offset);
    return 1;
}

static const struct gh_range LON_RANGE = {GEO_LONG_MIN, GEO_LONG_MAX};
static const struct gh_range LAT_RANGE = {GEO_LAT_MIN, GEO_LAT_MAX};

static int gh_decode(struct gh_range lonr, struct gh_range latr, struct gh_bits h, struct gh_area *a)
{
    if (!h.bits && !h.step)
        return 0;
    a->hash = h;
    uint64_t sep = deinterleave64(h.bits);
    double lat_scale = latr.max - latr.min, lon_scale = lonr.max - lonr.min;
    uint32_t ilato = (uint32_t)sep, ilono = (uint32_t)(sep >> 32);
    double div = (double)(1ULL << h.step);
    a->lat.min = latr.min + (ilato * 1.0 / div) * lat_scale;
    a->lat.max = latr.min + ((ilato + 1) * 1.0 / div) * lat_scale;
    a->lon.min = lonr.min + (ilono * 1.0 / div) * lon_scale;
    a->lon.max = lonr.min + ((ilono + 1) * 1.0 / div) * lon_scale;
    return 1;
}

/* score -> xy (longitude, latitude): the centre of the step-26 box, clamped */
static int decode_score(double score, double *xy)
{
    struct gh_bits h = {(uint64_t)score, GEO_STEP_MAX};
    struct gh_area a;
    if (!gh_decode(LON_RANGE, LAT_RANGE, h, &a))
        return 0;
    xy[0] = (a.lon.min + a.lon.max) / 2;
    if (xy[0] > GEO_LONG_MAX)
        xy[0] = GEO_LONG_MAX;
    if (xy[0] < GEO_LONG_MIN)
        xy[0] = GEO_LONG_MIN;
    xy[1] = (a.lat.min + a.lat.max) / 2;
    if (xy[1] > GEO_LAT_MAX)
        xy[1] = GEO_LAT_MAX;
    if (xy[1] < GEO_LAT_MIN)
        xy[1] = GEO_LAT_MIN;
    return 1;
}

static uint64_t align52(struct gh_bits h) { return h.bits << (52 - h.step * 2); }

/* Redis' geohash_move_x/_y: moves the box one step along longitude (x: the odd bits) or latitude
 * (y: the even bits), wrapping around */
static void gh_move(struct gh_bits *h, int d, int along_y)
{
    if (d == 0)
        return;
    const uint64_t odd = 0xaaaaaaaaaaaaaaaaULL, even = 0x5555555555555555ULL;
    uint64_t mine = h->bits & (along_y ? even : odd), other = h->bits & (along_y ? odd : even);
    uint64_t zz = (along_y ? odd : even) >> (64 - h->step * 2);
    if (d > 0) {
        mine = mine + (zz + 1);
    } else {
        mine = mine | zz;
        mine = mine - (zz + 1);
    }
    mine &= (along_y ? even : odd) >> (64 - h->step * 2);
    h->bits = mine | other;
}
#define move_x(h, d) gh_move(h, d, 0)
#define move_y(h, d) gh_move(h, d, 1)

static void gh_neighbors(const struct gh_bits *h, struct gh_neighbors *n)
{
    n->east = n->west = n->north = n->south = *h;
    n->south_east = n->south_west = n->north_east = n->north_west = *h;
    move_x(&n->east, 1);
    move_x(&n->west, -1);
    move_y(&n->south, -1);
    move_y(&n->north, 1);
    move_x(&n->north_west, -1);
    move_y(&n->north_west, 1);
    move_x(&n->south_west, -1);
    move_y(&n->south_west, -1);
    move_x(&n->north_east, 1);
    move_y(&n->north_east, 1);
    move_x(&n->south_east, 1);
    move_y(&n->south_east, -1);
}

static double deg_rad(double a) { return a * D_R; }
static double rad_deg(double a) { return a / D_R; }

static double lat_distance(double lat1d, double lat2d)
{
    return EARTH_RADIUS_IN_METERS * fabs(deg_rad(lat2d) - deg_rad(lat1d));
}

static double gh_distance(double lon1d, double lat1d, double lon2d, double lat2d)
{
    double lon1r = deg_rad(lon1d), lon2r = deg_rad(lon2d);
    double v = sin((lon2r - lon1r) / 2);
    if (v == 0.0)
        return lat_distance(lat1d, lat2d);
    double lat1r = deg_rad(lat1d), lat2r = deg_rad(lat2d);
    double u = sin((lat2r - lat1r) / 2);
    double a = u * u + cos(lat1r) * cos(lat2r) * v * v;
    return 2.0 * EARTH_RADIUS_IN_METERS * asin(sqrt(a));
}

enum { CIRCULAR, RECTANGLE };
struct shape {
    int type;
    double xy[2];
    double conversion;
    double radius, width, height;
    double bounds[4];
};

static uint8_t estimate_steps(double range_meters, double lat)
{
    if (range_meters == 0)
        return 26;
    int step = 1;
    while (range_meters < MERCATOR_MAX) {
        range_meters *= 2;
        step++;
    }
    step -= 2;
    if (lat > 66 || lat < -66) {
        step--;
        if (lat > 80 || lat < -80)
            step--;
    }
    if (step < 1)
        step = 1;
    if (step > 26)
        step = 26;
    return (uint8_t)step;
}

static void bounding_box(struct shape *s)
{
    double lon = s->xy[0], lat = s->xy[1];
    double height = s->conversion * (s->type == CIRCULAR ? s->radius : s->height / 2);
    double width = s->conversion * (s->type == CIRCULAR ? s->radius : s->width / 2);
    const double lat_delta = rad_deg(height / EARTH_RADIUS_IN_METERS);
    const double long_delta_top = rad_deg(width / EARTH_RADIUS_IN_METERS / cos(deg_rad(lat + lat_delta)));
    const double long_delta_bottom = rad_deg(width / EARTH_RADIUS_IN_METERS / cos(deg_rad(lat - lat_delta)));
    int south = lat < 0;
    s->bounds[0] = south ? lon - long_delta_bottom : lon - long_delta_top;
    s->bounds[2] = south ? lon + long_delta_bottom : lon + long_delta_top;
    s->bounds[1] = lat - lat_delta;
    s->bounds[3] = lat + lat_delta;
}

/* the 9 boxes to visit, in Redis' order; a zeroed box is skipped */
static void areas_by_shape(struct shape *s, struct gh_bits out[9])
{
    bounding_box(s);
    double min_lon = s->bounds[0], min_lat = s->bounds[1], max_lon = s->bounds[2], max_lat = s->bounds[3];
    double lon = s->xy[0], lat = s->xy[1];
    double radius_meters = s->type == CIRCULAR ? s->radius
                                               : sqrt((s->width / 2) * (s->width / 2) + (s->height / 2) * (s->height / 2));
    radius_meters *= s->conversion;
    uint8_t steps = estimate_steps(radius_meters, lat);
    struct gh_bits hash;
    struct gh_neighbors n;
    struct gh_area area;
    gh_encode(&LON_RANGE, &LAT_RANGE, lon, lat, steps, &hash);
    gh_neighbors(&hash, &n);
    gh_decode(LON_RANGE, LAT_RANGE, hash, &area);
    int decrease = 0;
    {
        struct gh_area north, south, east, west;
        gh_decode(LON_RANGE, LAT_RANGE, n.north, &north);
        gh_decode(LON_RANGE, LAT_RANGE, n.south, &south);
        gh_decode(LON_RANGE, LAT_RANGE, n.east, &east);
        gh_decode(LON_RANGE, LAT_RANGE, n.west, &west);
        if (north.lat.max < max_lat)
            decrease = 1;
        if (south.lat.min > min_lat)
            decrease = 1;
        if (east.lon.max < max_lon)
            decrease = 1;
        if (west.lon.min > min_lon)
            decrease = 1;
    }
    if (steps > 1 && decrease) {
        steps--;
        gh_encode(&LON_RANGE, &LAT_RANGE, lon, lat, steps, &hash);
        gh_neighbors(&hash, &n);
        gh_decode(LON_RANGE, LAT_RANGE, hash, &area);
    }
    static const struct gh_bits zero = {0, 0};
    if (steps >= 2) {
        if (area.lat.min < min_lat)
            n.south = n.south_west = n.south_east = zero;
        if (area.lat.max > max_lat)
            n.north = n.north_east = n.north_west = zero;
        if (area.lon.min < min_lon)
            n.west = n.south_west = n.north_west = zero;
        if (area.lon.max > max_lon)
            n.east = n.south_east = n.north_east = zero;
    }
    out[0] = hash;
    out[1] = n.north;
    out[2] = n.south;
    out[3] = n.east;
    out[4] = n.west;
    out[5] = n.north_east;
    out[6] = n.north_west;
    out[7] = n.south_east;
    out[8] = n.south_west;
}

struct gpoint {
    double lon, lat, dist, score;
    const char *member; /* borrowed from the zset */
    size_t mlen;
};
struct garray {
    struct gpoint *a;
    size_t used, cap;
};

static void append_if_within(struct garray *ga, const struct shape *s, double score, const char *m,
                             size_t mn)
{
    double distance = 0, xy[2];
    if (!decode_score(score, xy))
        return;
    if (s->type == CIRCULAR) {
        distance = gh_distance(s->xy[0], s->xy[1], xy[0], xy[1]);
        if (distance > s->radius * s->conversion)
            return;
    } else {
        double w = s->width * s->conversion, h = s->height * s->conversion;
        if (lat_distance(xy[1], s->xy[1]) > h / 2)
            return;
        if (gh_distance(xy[0], xy[1], s->xy[0], xy[1]) > w / 2)
            return;
        distance = gh_distance(s->xy[0], s->xy[1], xy[0], xy[1]);
    }
    if (ga->used == ga->cap) {
        ga->cap = ga->cap ? ga->cap * 2 : 16;
        ga->a = bndr_realloc(ga->a, ga->cap * sizeof(*ga->a));
    }
    struct gpoint *g = &ga->a[ga->used++];
    g->lon = xy[0];
    g->lat = xy[1];
    g->dist = distance;
    g->score = score;
    g->member = m;
    g->mlen = mn;
}

static void members_of_all_neighbors(struct bndr_zset *z, struct gh_bits nb[9], const struct shape *s,
                                     struct garray *ga, unsigned long limit)
{
    unsigned last = 0;
    for (unsigned i = 0; i < 9; i++) {
        if (!nb[i].bits && !nb[i].step)
            continue;
        if (last && nb[i].bits == nb[last].bits && nb[i].step == nb[last].step)
            continue;
        if (ga->used && limit && ga->used >= limit)
            break;
        struct gh_bits hi = nb[i];
        hi.bits++;
        struct bndr_zrange_spec r = {(double)align52(nb[i]), (double)align52(hi), 0, 1};
        for (struct bndr_zsl_node *x = bndr_zsl_first_in_range(z, &r);
             x && bndr_zsl_value_lte_max(x->score, &r); x = x->level[0].forward) {
            append_if_within(ga, s, x->score, x->ele, x->elen);
            if (ga->used && limit && ga->used >= limit)
                break;
        }
        last = i;
    }
}

/* ---------------------------------------------------------------- argument helpers */
static int extract_lonlat(struct bndr_client *c, struct bndr_arg *argv, double *xy)
{
    for (int i = 0; i < 2; i++)
        if (bndr_get_double_or_reply(c, &argv[i], &xy[i], NULL) < 0)
            return -1;
    if (xy[0] < GEO_LONG_MIN || xy[0] > GEO_LONG_MAX || xy[1] < GEO_LAT_MIN || xy[1] > GEO_LAT_MAX) {
        bndr_add_errorf(c, "ERR invalid longitude,latitude pair %f,%f", xy[0], xy[1]);
        return -1;
    }
    return 0;
}

static double extract_unit(struct bndr_client *c, struct bndr_arg *u)
{
    if (bndr_argeq(u, "m"))
        return 1;
    if (bndr_argeq(u, "km"))
        return 1000;
    if (bndr_argeq(u, "ft"))
        return 0.3048;
    if (bndr_argeq(u, "mi"))
        return 1609.34;
    bndr_add_error(c, "ERR unsupported unit provided. please use M, KM, FT, MI");
    return -1;
}

static int extract_distance(struct bndr_client *c, struct bndr_arg *argv, double *conv, double *radius)
{
    double d;
    if (bndr_get_double_or_reply(c, &argv[0], &d, "ERR need numeric radius") < 0)
        return -1;
    if (d < 0) {
        bndr_add_error(c, "ERR radius cannot be negative");
        return -1;
    }
    *radius = d;
    double m = extract_unit(c, &argv[1]);
    if (m < 0)
        return -1;
    *conv = m;
    return 0;
}

static int extract_box(struct bndr_client *c, struct bndr_arg *argv, double *conv, double *w, double *h)
{
    if (bndr_get_double_or_reply(c, &argv[0], w, "ERR need numeric width") < 0 ||
        bndr_get_double_or_reply(c, &argv[1], h, "ERR need numeric height") < 0)
        return -1;
    if (*h < 0 || *w < 0) {
        bndr_add_error(c, "ERR height or width cannot be negative");
        return -1;
    }
    double m = extract_unit(c, &argv[2]);
    if (m < 0)
        return -1;
    *conv = m;
    return 0;
}

static int lonlat_from_member(struct bndr_zset *z, struct bndr_arg *m, double *xy)
{
    struct bndr_de *e = z ? bndr_dict_find(&z->dict, m->p, m->n) : NULL;
    if (!e)
        return -1;
    return decode_score(e->v.d, xy) ? 0 : -1;
}

/* Redis' addReplyHumanLongDouble: a bulk in RESP2, a double in RESP3, "%.17Lf" trimmed */
static void add_human_ld(struct bndr_client *c, long double d)
{
    char buf[BNDR_LD_STR * 2];
    int n = bndr_fmt_ld(buf, sizeof buf, d);
    if (n < 0)
        n = 0;
    if (c->resp == 2) {
        bndr_add_bulk(c, buf, (size_t)n);
    } else {
        bndr_add_raw(c, ",", 1);
        bndr_add_raw(c, buf, (size_t)n);
        bndr_add_raw(c, "\r\n", 2);
    }
}

static void add_distance(struct bndr_client *c, double d)
{
    char buf[128];
    int n = snprintf(buf, sizeof buf, "%.4f", d);
    bndr_add_bulk(c, buf, (size_t)n);
}

/* ---------------------------------------------------------------- commands */
void bndr_cmd_geoadd(struct bndr_client *c)
{
    int xx = 0, nx = 0, longidx = 2;
    while (longidx < c->argc) {
        struct bndr_arg *o = &c->argv[longidx];
        if (bndr_argeq(o, "nx"))
            nx = 1;
        else if (bndr_argeq(o, "xx"))
            xx = 1;
        else if (!bndr_argeq(o, "ch"))
            break;
        longidx++;
    }
    if ((c->argc - longidx) % 3 || (xx && nx)) {
        bndr_add_error(c, BNDR_ERR_SYNTAX);
        return;
    }
    int elements = (c->argc - longidx) / 3;
    int argc = longidx + elements * 2;
    struct bndr_arg *argv = bndr_malloc((size_t)argc * sizeof(*argv));
    char *scores = bndr_malloc((size_t)(elements ? elements : 1) * 24);
    argv[0].p = (char *)"zadd";
    argv[0].n = 4;
    for (int i = 1; i < longidx; i++)
        argv[i] = c->argv[i];
    for (int i = 0; i < elements; i++) {
        double xy[2];
        if (extract_lonlat(c, &c->argv[longidx + i * 3], xy) < 0) {
            bndr_free(argv);
            bndr_free(scores);
            return;
        }
        struct gh_bits h;
        gh_encode(&LON_RANGE, &LAT_RANGE, xy[0], xy[1], GEO_STEP_MAX, &h);
        char *sp = scores + i * 24;
        argv[longidx + i * 2].p = sp;
        argv[longidx + i * 2].n = (size_t)bndr_fmt_ll(sp, (long long)align52(h));
        argv[longidx + 1 + i * 2] = c->argv[longidx + i * 3 + 2];
    }
    /* ZADD does the work, as in Redis (GEOADD is propagated as given: it is deterministic) */
    struct bndr_arg *saved = c->argv;
    int savedc = c->argc;
    c->argv = argv;
    c->argc = argc;
    bndr_cmd_zadd(c);
    c->argv = saved;
    c->argc = savedc;
    bndr_free(argv);
    bndr_free(scores);
}

static struct bndr_zset *geo_zset(struct bndr_client *c, struct bndr_arg *k, int *wrong)
{
    struct bndr_obj *o = bndr_lookup_type(c, k, BNDR_ZSET, 0, wrong);
    return o ? o->u.z : NULL;
}

void bndr_cmd_geopos(struct bndr_client *c)
{
    int wrong;
    struct bndr_zset *z = geo_zset(c, &c->argv[1], &wrong);
    if (wrong)
        return;
    bndr_add_array(c, c->argc - 2);
    for (int j = 2; j < c->argc; j++) {
        double xy[2];
        if (lonlat_from_member(z, &c->argv[j], xy) < 0) {
            bndr_add_null_array(c);
            continue;
        }
        bndr_add_array(c, 2);
        add_human_ld(c, xy[0]);
        add_human_ld(c, xy[1]);
    }
}

void bndr_cmd_geodist(struct bndr_client *c)
{
    double to_meter = 1;
    if (c->argc == 5) {
        to_meter = extract_unit(c, &c->argv[4]);
        if (to_meter < 0)
            return;
    } else if (c->argc > 5) {
        bndr_add_error(c, BNDR_ERR_SYNTAX);
        return;
    }
    int wrong;
    struct bndr_zset *z = geo_zset(c, &c->argv[1], &wrong);
    if (wrong)
        return;
    double a[2], b[2];
    if (!z || lonlat_from_member(z, &c->argv[2], a) < 0 || lonlat_from_member(z, &c->argv[3], b) < 0) {
        bndr_add_null(c);
        return;
    }
    add_distance(c, gh_distance(a[0], a[1], b[0], b[1]) / to_meter);
}

void bndr_cmd_geohash(struct bndr_client *c)
{
    static const char alphabet[] = "0123456789bcdefghjkmnpqrstuvwxyz";
    int wrong;
    struct bndr_zset *z = geo_zset(c, &c->argv[1], &wrong);
    if (wrong)
        return;
    bndr_add_array(c, c->argc - 2);
    for (int j = 2; j < c->argc; j++) {
        double xy[2];
        if (lonlat_from_member(z, &c->argv[j], xy) < 0) {
            bndr_add_null(c);
            continue;
        }
        struct gh_range r0 = {-180, 180}, r1 = {-90, 90};
        struct gh_bits h;
        gh_encode(&r0, &r1, xy[0], xy[1], 26, &h);
        char buf[11];
        for (int i = 0; i < 11; i++) {
            int idx = i == 10 ? 0 : (int)((h.bits >> (52 - ((i + 1) * 5))) & 0x1f);
            buf[i] = alphabet[idx];
        }
        bndr_add_bulk(c, buf, 11);
    }
}

enum { RADIUS_COORDS = 1, RADIUS_MEMBER = 2, RADIUS_NOSTORE = 4, GEOSEARCH = 8, GEOSEARCHSTORE = 16 };

static int cmp_asc(const void *a, const void *b)
{
    double x = ((const struct gpoint *)a)->dist, y = ((const struct gpoint *)b)->dist;
    return x > y ? 1 : x == y ? 0 : -1;
}
static int cmp_desc(const void *a, const void *b) { return -cmp_asc(a, b); }

static void georadius_generic(struct bndr_client *c, int src_idx, int flags)
{
    struct bndr_arg *storekey = NULL;
    int storedist = 0;
    int wrong;
    struct bndr_zset *z = geo_zset(c, &c->argv[src_idx], &wrong);
    if (wrong)
        return;
    int base_args;
    struct shape s;
    memset(&s, 0, sizeof s);
    if (flags & RADIUS_COORDS) {
        base_args = 6;
        s.type = CIRCULAR;
        if (extract_lonlat(c, &c->argv[2], s.xy) < 0)
            return;
        if (extract_distance(c, &c->argv[base_args - 2], &s.conversion, &s.radius) < 0)
            return;
    } else if ((flags & RADIUS_MEMBER) && !z) {
        base_args = 5;
    } else if (flags & RADIUS_MEMBER) {
        base_args = 5;
        s.type = CIRCULAR;
        if (lonlat_from_member(z, &c->argv[2], s.xy) < 0) {
            bndr_add_error(c, "ERR could not decode requested zset member");
            return;
        }
        if (extract_distance(c, &c->argv[base_args - 2], &s.conversion, &s.radius) < 0)
            return;
    } else {
        base_args = 2;
        if (flags & GEOSEARCHSTORE) {
            base_args = 3;
            storekey = &c->argv[1];
        }
    }
    int withdist = 0, withhash = 0, withcoords = 0, frommember = 0, fromloc = 0, byradius = 0, bybox = 0;
    int sort = 0, any = 0; /* sort: 0 none, 1 asc, 2 desc */
    long long count = 0;
    int remaining = c->argc - base_args;
    for (int i = 0; i < remaining; i++) {
        struct bndr_arg *arg = &c->argv[base_args + i];
        if (bndr_argeq(arg, "withdist")) {
            withdist = 1;
        } else if (bndr_argeq(arg, "withhash")) {
            withhash = 1;
        } else if (bndr_argeq(arg, "withcoord")) {
            withcoords = 1;
        } else if (bndr_argeq(arg, "any")) {
            any = 1;
        } else if (bndr_argeq(arg, "asc")) {
            sort = 1;
        } else if (bndr_argeq(arg, "desc")) {
            sort = 2;
        } else if (bndr_argeq(arg, "count") && i + 1 < remaining) {
            if (bndr_get_ll_or_reply(c, &c->argv[base_args + i + 1], &count, NULL) < 0)
                return;
            if (count <= 0) {
                bndr_add_error(c, "ERR COUNT must be > 0");
                return;
            }
            i++;
        } else if ((bndr_argeq(arg, "store") || bndr_argeq(arg, "storedist")) && i + 1 < remaining &&
                   !(flags & RADIUS_NOSTORE) && !(flags & GEOSEARCH)) {
            storedist = bndr_argeq(arg, "storedist");
            storekey = &c->argv[base_args + i + 1];
            i++;
        } else if (bndr_argeq(arg, "storedist") && (flags & GEOSEARCH) && (flags & GEOSEARCHSTORE)) {
            storedist = 1;
        } else if (bndr_argeq(arg, "frommember") && i + 1 < remaining && (flags & GEOSEARCH) && !fromloc) {
            if (!z) {
                frommember = 1;
                i++;
                continue;
            }
            if (lonlat_from_member(z, &c->argv[base_args + i + 1], s.xy) < 0) {
                bndr_add_error(c, "ERR could not decode requested zset member");
                return;
            }
            frommember = 1;
            i++;
        } else if (bndr_argeq(arg, "fromlonlat") && i + 2 < remaining && (flags & GEOSEARCH) && !frommember) {
            if (extract_lonlat(c, &c->argv[base_args + i + 1], s.xy) < 0)
                return;
            fromloc = 1;
            i += 2;
        } else if (bndr_argeq(arg, "byradius") && i + 2 < remaining && (flags & GEOSEARCH) && !bybox) {
            if (extract_distance(c, &c->argv[base_args + i + 1], &s.conversion, &s.radius) < 0)
                return;
            s.type = CIRCULAR;
            byradius = 1;
            i += 2;
        } else if (bndr_argeq(arg, "bybox") && i + 3 < remaining && (flags & GEOSEARCH) && !byradius) {
            if (extract_box(c, &c->argv[base_args + i + 1], &s.conversion, &s.width, &s.height) < 0)
                return;
            s.type = RECTANGLE;
            bybox = 1;
            i += 3;
        } else {
            bndr_add_error(c, BNDR_ERR_SYNTAX);
            return;
        }
    }
    if (storekey && (withdist || withhash || withcoords)) {
        bndr_add_errorf(c, "ERR %s is not compatible with WITHDIST, WITHHASH and WITHCOORD options",
                        (flags & GEOSEARCHSTORE) ? "GEOSEARCHSTORE" : "STORE option in GEORADIUS");
        return;
    }
    if ((flags & GEOSEARCH) && !(frommember || fromloc)) {
        bndr_add_errorf(c, "ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for %.*s",
                        (int)(c->argv[0].n > 64 ? 64 : c->argv[0].n), c->argv[0].p);
        return;
    }
    if ((flags & GEOSEARCH) && !(byradius || bybox)) {
        bndr_add_errorf(c, "ERR exactly one of BYRADIUS and BYBOX can be specified for %.*s",
                        (int)(c->argv[0].n > 64 ? 64 : c->argv[0].n), c->argv[0].p);
        return;
    }
    if (any && !count) {
        bndr_add_error(c, "ERR the ANY argument requires COUNT argument");
        return;
    }
    struct bndr_db *db = &c->srv->db;
    if (!z) {
        if (storekey) {
            if (bndr_db_delete(db, storekey->p, storekey->n)) {
                bndr_signal_key(c->srv, storekey->p, storekey->n);
                bndr_notify(c->srv, "del", storekey->p, storekey->n);
                c->srv->dirty++;
            }
            bndr_add_ll(c, 0);
        } else {
            bndr_add_array(c, 0);
        }
        return;
    }
    if (count != 0 && sort == 0 && !any)
        sort = 1;
    struct gh_bits nb[9];
    areas_by_shape(&s, nb);
    struct garray ga = {0};
    members_of_all_neighbors(z, nb, &s, &ga, any ? (unsigned long)count : 0);
    if (ga.used == 0 && !storekey) {
        bndr_add_array(c, 0);
        bndr_free(ga.a);
        return;
    }
    long long result_length = (long long)ga.used;
    long long returned = (count == 0 || result_length < count) ? result_length : count;
    if (sort)
        qsort(ga.a, ga.used, sizeof(*ga.a), sort == 1 ? cmp_asc : cmp_desc);
    if (!storekey) {
        int optlen = withdist + withcoords + withhash;
        bndr_add_array(c, returned);
        for (long long i = 0; i < returned; i++) {
            struct gpoint *g = &ga.a[i];
            g->dist /= s.conversion;
            if (optlen)
                bndr_add_array(c, optlen + 1);
            bndr_add_bulk(c, g->member, g->mlen);
            if (withdist)
                add_distance(c, g->dist);
            if (withhash)
                bndr_add_ll(c, (long long)g->score);
            if (withcoords) {
                bndr_add_array(c, 2);
                add_human_ld(c, g->lon);
                add_human_ld(c, g->lat);
            }
        }
    } else {
        struct bndr_obj *o = returned ? bndr_obj_new(BNDR_ZSET) : NULL;
        for (long long i = 0; i < returned; i++) {
            struct gpoint *g = &ga.a[i];
            g->dist /= s.conversion;
            bndr_zset_set(o->u.z, g->member, g->mlen, storedist ? g->dist : g->score);
        }
        if (returned) {
            bndr_db_set(db, storekey->p, storekey->n, o, 0);
            c->srv->dirty += returned;
            bndr_signal_key(c->srv, storekey->p, storekey->n);
            bndr_notify(c->srv, (flags & GEOSEARCH) ? "geosearchstore" : "georadiusstore", storekey->p,
                        storekey->n);
        } else if (bndr_db_delete(db, storekey->p, storekey->n)) {
            bndr_signal_key(c->srv, storekey->p, storekey->n);
            bndr_notify(c->srv, "del", storekey->p, storekey->n);
            c->srv->dirty++;
        }
        bndr_add_ll(c, returned);
    }
    bndr_free(ga.a);
}

void bndr_cmd_georadius(struct bndr_client *c) { georadius_generic(c, 1, RADIUS_COORDS); }
void bndr_cmd_georadius_ro(struct bndr_client *c) { georadius_generic(c, 1, RADIUS_COORDS | RADIUS_NOSTORE); }
void bndr_cmd_georadiusbymember(struct bndr_client *c) { georadius_generic(c, 1, RADIUS_MEMBER); }
void bndr_cmd_georadiusbymember_ro(struct bndr_client *c)
{
    georadius_generic(c, 1, RADIUS_MEMBER | RADIUS_NOSTORE);
}
void bndr_cmd_geosearch(struct bndr_client *c) { georadius_generic(c, 1, GEOSEARCH); }
void bndr_cmd_geosearchstore(struct bndr_client *c) { georadius_generic(c, 2, GEOSEARCH | GEOSEARCHSTORE); }
