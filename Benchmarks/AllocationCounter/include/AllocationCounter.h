#ifndef KILN_ALLOCATION_COUNTER_H
#define KILN_ALLOCATION_COUNTER_H

/// Counts heap allocations (malloc, calloc, realloc, aligned allocations) in every thread of the process
/// while counting is on. The benchmark executable links this file, so its malloc family replaces libc's
/// for the whole process (the Swift runtime and OpenBLAS included); each call forwards to glibc.
void kiln_allocations_start(void);
/// Stops counting and returns the allocations since kiln_allocations_start().
long kiln_allocations_stop(void);

#endif
