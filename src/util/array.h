/* Growable arrays: items, a count and a capacity, kept by the owner. */
#ifndef POSTERN_UTIL_ARRAY_H
#define POSTERN_UTIL_ARRAY_H

#include <stddef.h>

/*
 * Room for one more item: items itself while count < *cap, otherwise items reallocated to twice
 * *cap (first_cap the first time) with *cap updated. NULL when memory runs out or the size
 * overflows; items and *cap are then unchanged (and still valid).
 */
void *array_make_room(void *items, size_t count, size_t *cap, size_t item_size,
                      size_t first_cap);

#endif
