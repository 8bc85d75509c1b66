#include "util/array.h"

#include <stdint.h>
#include <stdlib.h>

void *array_make_room(void *items, size_t count, size_t *cap, size_t item_size,
                      size_t first_cap)
{
    if (count < *cap)
        return items;
    size_t grown = *cap ? *cap * 2 : first_cap;
    if (grown <= *cap || grown > SIZE_MAX / item_size)
        return NULL;
    void *moved = realloc(items, grown * item_size);
    if (moved)
        *cap = grown;
    return moved;
}
