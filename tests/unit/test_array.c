/* Growable arrays (util/array.h): room while there is some, doubling when full, and a refusal
 * that leaves the array as it was when the size would overflow. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>

#include "util/array.h"

static void test_grows_by_doubling(void **state)
{
    (void)state;
    int *items = NULL;
    size_t count = 0, cap = 0;
    for (int i = 0; i < 100; i++) {
        int *room = array_make_room(items, count, &cap, sizeof *room, 4);
        assert_non_null(room);
        items = room;
        items[count++] = i;
        assert_true(count <= cap);
    }
    assert_int_equal(cap, 128); /* 4, 8, 16, 32, 64, 128 */
    for (int i = 0; i < 100; i++)
        assert_int_equal(items[i], i);
    free(items);
}

static void test_room_left_keeps_the_same_memory(void **state)
{
    (void)state;
    size_t cap = 0;
    int *items = array_make_room(NULL, 0, &cap, sizeof *items, 8);
    assert_non_null(items);
    assert_ptr_equal(array_make_room(items, 7, &cap, sizeof *items, 8), items);
    assert_int_equal(cap, 8);
    free(items);
}

static void test_overflow_is_refused_and_changes_nothing(void **state)
{
    (void)state;
    size_t cap = 0;
    char *items = array_make_room(NULL, 0, &cap, 1, 16);
    assert_non_null(items);
    size_t huge = SIZE_MAX / 2 + 1;
    size_t big_cap = huge;
    assert_null(array_make_room(items, huge, &big_cap, 1, 16)); /* doubling overflows */
    assert_int_equal(big_cap, huge);
    size_t item_cap = 8;
    assert_null(array_make_room(items, 8, &item_cap, SIZE_MAX / 8, 16)); /* bytes overflow */
    assert_int_equal(item_cap, 8);
    free(items);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grows_by_doubling),
        cmocka_unit_test(test_room_left_keeps_the_same_memory),
        cmocka_unit_test(test_overflow_is_refused_and_changes_nothing),
    };
    return cmocka_run_group_tests_name("array", tests, NULL, NULL);
}
