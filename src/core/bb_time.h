/* bb_time.h — the clocks, written once. Thread-safe; never fail on Linux. */
#ifndef BB_TIME_H
#define BB_TIME_H

#include <stdint.h>
#include <time.h>

/* Monotonic clock (CLOCK_MONOTONIC): for deadlines, timeouts and durations. */
uint64_t bb_time_mono_ns(void);
uint64_t bb_time_mono_ms(void);
/* Wall clock (CLOCK_REALTIME) in milliseconds since the Unix epoch: for timestamps only. */
uint64_t bb_time_wall_ms(void);
/* The absolute time ms milliseconds from now on clock clk (CLOCK_REALTIME for a default
 * condition variable, CLOCK_MONOTONIC for one made with pthread_condattr_setclock), for
 * pthread_cond_timedwait. */
void bb_time_deadline(clockid_t clk, uint64_t ms, struct timespec *ts);
/* Sleeps ms milliseconds, resuming after signals. */
void bb_time_sleep_ms(uint64_t ms);

#endif
