/* http.c — bunder's HTTP API (stub; filled in below). */
#include "bndr.h"

int bndr_http_start(struct bndr_server *s, char *err, size_t errcap)
{
    (void)s;
    snprintf(err, errcap, "http api not available");
    return -1;
}

void bndr_http_stop(struct bndr_server *s)
{
    (void)s;
}
