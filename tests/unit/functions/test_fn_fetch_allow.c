/* fn_fetch_allowed (src/functions/fn_pool.c): which URLs a function's fetch() may reach under
 * BUNBASE_FUNCTIONS_FETCH_ALLOW — host entries (any port), host:port entries, the scheme's default
 * port, IPv6 literals, and the tricks that must not pass (userinfo, other schemes, suffixes). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fn_internal.h"

static void test_cases(void **state)
{
    (void)state;
    static const struct {
        const char *allow, *url;
        int ok;
    } t[] = {
        {"api.example.com", "https://api.example.com/v1?x=1", 1},
        {"api.example.com", "http://API.example.com:8080/", 1},
        {"api.example.com", "https://api.example.com.evil.net/", 0},
        {"api.example.com", "https://evil.net/api.example.com", 0},
        {"api.example.com", "https://api.example.com@evil.net/", 0},
        {"evil.net", "https://api.example.com@evil.net/", 1},
        {"127.0.0.1:8080", "http://127.0.0.1:8080/x", 1},
        {"127.0.0.1:8080", "http://127.0.0.1:8081/x", 0},
        {"127.0.0.1:8080", "http://127.0.0.1/x", 0},
        {"example.com:443", "https://example.com/", 1},
        {"example.com:443", "http://example.com/", 0},
        {"a.com, b.com:9", "http://b.com:9/", 1},
        {"a.com, b.com:9", "http://c.com/", 0},
        {"[::1]:8080", "http://[::1]:8080/", 1},
        {"[::1]", "http://[::1]:1/", 1},
        {"[::1]", "http://[::2]/", 0},
        {"example.com", "ftp://example.com/", 0},
        {"example.com", "file:///etc/passwd", 0},
        {"", "http://example.com/", 0},
        {"example.com", "http://:80/", 0},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (fn_fetch_allowed(t[i].allow, t[i].url) != t[i].ok)
            fail_msg("allow \"%s\" url \"%s\": want %d", t[i].allow, t[i].url, t[i].ok);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_cases)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
