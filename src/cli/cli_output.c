/* cli_output.c — what the CLI prints: one compact JSON document per line with --json (the
 * schemas are in docs/cli.md), aligned tables and "key: value" lines for humans otherwise. */
#include "cli.h"

#include "bb_crypto.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CELL_MAX 60

void cli_print_json(const json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    if (s) {
        fputs(s, stdout);
        fputc('\n', stdout);
        free(s);
    }
}

const char *cli_cell(const json_t *j, char *buf, size_t cap)
{
    if (!j || json_is_null(j)) return "-";
    if (json_is_string(j)) {
        snprintf(buf, cap, "%s", json_string_value(j));
    } else if (json_is_integer(j)) {
        snprintf(buf, cap, "%" JSON_INTEGER_FORMAT, json_integer_value(j));
    } else if (json_is_real(j)) {
        snprintf(buf, cap, "%.17g", json_real_value(j));
    } else if (json_is_boolean(j)) {
        snprintf(buf, cap, "%s", json_is_true(j) ? "true" : "false");
    } else {
        char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
        snprintf(buf, cap, "%s", s ? s : "?");
        free(s);
    }
    /* one line per row: control characters become spaces */
    for (char *p = buf; *p; p++)
        if ((unsigned char)*p < 0x20) *p = ' ';
    return buf;
}

/* Display width of a UTF-8 string (code points; good enough for aligned ASCII-ish tables). */
static size_t width(const char *s)
{
    size_t w = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80) w++;
    return w;
}

void cli_print_table(const json_t *rows, const char *const *headers, const char *const *keys,
                     size_t ncols)
{
    size_t nrows = json_array_size(rows);
    size_t *w = calloc(ncols, sizeof *w);
    char buf[CELL_MAX + 4];
    if (!w) return;
    for (size_t k = 0; k < ncols; k++)
        w[k] = width(headers[k]);
    for (size_t i = 0; i < nrows; i++)
        for (size_t k = 0; k < ncols; k++) {
            size_t cw =
                width(cli_cell(json_object_get(json_array_get(rows, i), keys[k]), buf, sizeof buf));
            if (cw > w[k]) w[k] = cw;
        }
    for (size_t k = 0; k < ncols; k++)
        printf("%s%-*s", k ? "  " : "", k + 1 < ncols ? (int)w[k] : 0, headers[k]);
    printf("\n");
    for (size_t i = 0; i < nrows; i++) {
        for (size_t k = 0; k < ncols; k++) {
            const char *s =
                cli_cell(json_object_get(json_array_get(rows, i), keys[k]), buf, sizeof buf);
            size_t pad = k + 1 < ncols ? w[k] - width(s) : 0;
            printf("%s%s%*s", k ? "  " : "", s, (int)pad, "");
        }
        printf("\n");
    }
    free(w);
}

void cli_print_fields(const json_t *obj, const char *const *keys, size_t n)
{
    size_t kw = 0;
    char buf[4096];
    for (size_t k = 0; k < n; k++)
        if (strlen(keys[k]) > kw) kw = strlen(keys[k]);
    for (size_t k = 0; k < n; k++) {
        const json_t *v = json_object_get(obj, keys[k]);
        if (!v) continue;
        printf("%-*s  %s\n", (int)kw + 1, keys[k], cli_cell(v, buf, sizeof buf));
    }
}

void cli_print_ok(struct cli *c, json_t *extra, const char *fmt, ...)
{
    if (c->json) {
        json_t *o = json_is_object(extra) ? extra : json_object();
        if (o != extra) json_decref(extra);
        json_object_set_new(o, "ok", json_true());
        cli_print_json(o);
        json_decref(o);
        return;
    }
    json_decref(extra);
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
}

void cli_print_pretty(struct cli *c, const json_t *j)
{
    if (c->json) {
        cli_print_json(j);
        return;
    }
    char *s = json_dumps(j, JSON_INDENT(2) | JSON_ENCODE_ANY);
    if (s) printf("%s\n", s);
    free(s);
}

void cli_set_bytes(json_t *o, const char *key, const char *b64_key, const char *data, size_t len)
{
    json_t *v = json_stringn(data, len); /* NULL when not UTF-8 */
    if (v) {
        json_object_set_new(o, key, v);
        return;
    }
    char *b64 = bb_base64_encode_alloc(data, len);
    json_object_set_new(o, b64_key, json_string(b64 ? b64 : ""));
    free(b64);
}

void cli_write_raw(const char *data, size_t len)
{
    fwrite(data, 1, len, stdout);
    if (isatty(STDOUT_FILENO) && len && data[len - 1] != '\n') fputc('\n', stdout);
}
