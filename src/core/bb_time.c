/* bb_time.c — see bb_time.h. */
#include "bb_time.h"

#include <errno.h>
#include <time.h>

uint64_t bb_time_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t bb_time_mono_ms(void)
{
    return bb_time_mono_ns() / 1000000ull;
}

uint64_t bb_time_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000ull + (uint64_t)ts.tv_nsec / 1000000ull;
}

void bb_time_deadline(clockid_t clk, uint64_t ms, struct timespec *ts)
{
    clock_gettime(clk, ts);
    uint64_t ns = (uint64_t)ts->tv_nsec + (ms % 1000) * 1000000ull;
    ts->tv_sec += (time_t)(ms / 1000 + ns / 1000000000ull);
    ts->tv_nsec = (long)(ns % 1000000000ull);
}

void bb_time_sleep_ms(uint64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}
