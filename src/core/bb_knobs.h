/* bb_knobs.h — one mechanism for configuration knobs: a table of rows, each naming an environment
 * variable (and optionally a command-line flag), a type, a default, bounds and a help line, and
 * the offset of the field it fills in the owner's config struct.
 *
 * Core's own knobs (bb_config.c) and every service's knobs (its `struct bb_service_def.knobs`)
 * are such tables. A service reads its knobs in start() with bb_knobs_load (defaults, then the
 * environment); the host prints every service's table for `bunbased serve --print-config` and
 * validates them before anything starts (a bad value: one line naming the knob, exit 2).
 * docs/configuration.md lists every row (tests/unit/core/test_config.c checks it).
 *
 * Types and what a value may be:
 *   U64     decimal integer in [min, max]; the field is a uint64_t. Durations are U64 knobs whose
 *           name ends in _MS or _S (the unit is in the name).
 *   BOOL    1/true/yes/on or 0/false/no/off; the field is a uint64_t or an int (size says which).
 *   STR     a string shorter than the field (size); `choices` ("a|b|c"), when set, lists the only
 *           values accepted. PATH is a STR naming a file or directory (printed as is).
 *   SECRET  a STR that --print-config shows as "<set>" or "" (never the value).
 * From the environment, an empty value of a U64, BOOL or choices knob means its default; an empty
 * STR is the empty string (for several knobs: "off").
 *
 * Error messages (one line, naming the knob):
 *   "<ENV> must be an integer in [MIN, MAX] (got \"V\")"   (", out of range" when it parsed)
 *   "<ENV> must be 0 or 1 (got \"V\")"                    (booleans)
 *   "<ENV> must be a or b (got \"V\")"                     (choices)
 *   "<ENV>: value too long (max N bytes)"
 * (with a flag as the source, the flag's name instead of ENV).
 *
 * Threading: the functions only read the table and the environment; call them from start-up code.
 */
#ifndef BB_KNOBS_H
#define BB_KNOBS_H

#include <stddef.h>
#include <stdint.h>

struct json_t;

enum bb_knob_type { BB_KNOB_STR, BB_KNOB_U64, BB_KNOB_BOOL, BB_KNOB_SECRET, BB_KNOB_PATH };

struct bb_knob {
    const char *env;  /* BUNBASE_… */
    const char *flag; /* "--listen" or NULL */
    enum bb_knob_type type;
    size_t offset;       /* of the field in the owner's config struct */
    size_t size;         /* of that field (strings: buffer size) */
    const char *dflt;    /* the default, as it would be written in the environment */
    uint64_t min, max;   /* U64 bounds */
    const char *help;    /* one line for docs and --help */
    const char *choices; /* STR: "a|b|c" = only these values; NULL: any */
};

/* Table rows. ST is the config struct type, F the field. */
#define BB_KNOB_ROW(ST, F, ENV, FLAG, T, DFLT, MIN, MAX, HELP, CH)                                \
    {.env = (ENV), .flag = (FLAG), .type = (T), .offset = offsetof(ST, F),                         \
     .size = sizeof(((ST *)0)->F), .dflt = (DFLT), .min = (MIN), .max = (MAX), .help = (HELP),     \
     .choices = (CH)}
#define BB_KNOB_U64_ROW(ST, F, ENV, DFLT, MIN, MAX, HELP)                                          \
    BB_KNOB_ROW(ST, F, ENV, NULL, BB_KNOB_U64, DFLT, MIN, MAX, HELP, NULL)
#define BB_KNOB_BOOL_ROW(ST, F, ENV, DFLT, HELP)                                                   \
    BB_KNOB_ROW(ST, F, ENV, NULL, BB_KNOB_BOOL, DFLT, 0, 1, HELP, NULL)
#define BB_KNOB_STR_ROW(ST, F, ENV, DFLT, HELP)                                                    \
    BB_KNOB_ROW(ST, F, ENV, NULL, BB_KNOB_STR, DFLT, 0, 0, HELP, NULL)
#define BB_KNOB_PATH_ROW(ST, F, ENV, DFLT, HELP)                                                   \
    BB_KNOB_ROW(ST, F, ENV, NULL, BB_KNOB_PATH, DFLT, 0, 0, HELP, NULL)
#define BB_KNOB_SECRET_ROW(ST, F, ENV, DFLT, HELP)                                                 \
    BB_KNOB_ROW(ST, F, ENV, NULL, BB_KNOB_SECRET, DFLT, 0, 0, HELP, NULL)
#define BB_KNOB_CHOICE_ROW(ST, F, ENV, DFLT, CHOICES, HELP)                                        \
    BB_KNOB_ROW(ST, F, ENV, NULL, BB_KNOB_STR, DFLT, 0, 0, HELP, CHOICES)

/* The row that ends a table whose length is not known where it is used (a service's
 * bb_service_def.knobs); bb_knobs_count counts the rows before it. */
#define BB_KNOBS_END {.env = NULL}
size_t bb_knobs_count(const struct bb_knob *k);

/* Sets k's field in cfg from the text v; src names the source in an error ("BUNBASE_X" or
 * "--flag"). Returns 0 or BB_EINVAL with a one-line message in err. */
int bb_knob_set(const struct bb_knob *k, void *cfg, const char *v, const char *src, char *err,
                size_t errcap);

/* Fills every field of the table's n rows in cfg from its default (cfg is not zeroed first).
 * Returns 0, or BB_EINVAL if a default is itself invalid (a bug in the table). */
int bb_knobs_defaults(const struct bb_knob *k, size_t n, void *cfg, char *err, size_t errcap);

/* Defaults, then the environment. Returns 0 or BB_EINVAL (first bad knob, in err). */
int bb_knobs_load(const struct bb_knob *k, size_t n, void *cfg, char *err, size_t errcap);

/* Adds every row to the JSON object o by env name (U64 as integers, BOOL as booleans, secrets as
 * "<set>" or ""). Returns 0 or BB_ENOMEM. */
int bb_knobs_to_json(const struct bb_knob *k, size_t n, const void *cfg, struct json_t *o);

/* Loads the table into a scratch struct of cfg_size bytes and adds it to o (when o is not NULL):
 * what the host does for every service. Returns 0, BB_EINVAL (err says which knob) or
 * BB_ENOMEM. */
int bb_knobs_check(const struct bb_knob *k, size_t n, size_t cfg_size, struct json_t *o,
                   char *err, size_t errcap);

#endif
