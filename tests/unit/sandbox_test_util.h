/*
 * A scratch directory per test for the store tests (cmocka setup/teardown): root is mkdtemp'd,
 * data_dir is root/data, created by the code under test. Header-only: every test file is a
 * binary of its own.
 */
#ifndef POSTERN_SANDBOX_TEST_UTIL_H
#define POSTERN_SANDBOX_TEST_UTIL_H

#include <stdio.h>
#include <stdlib.h>

struct sandbox {
    char root[64];
    char data_dir[128];
};

static int setup(void **state)
{
    struct sandbox *box = calloc(1, sizeof *box);
    if (!box)
        return -1;
    snprintf(box->root, sizeof box->root, "/tmp/postern-test-XXXXXX");
    if (!mkdtemp(box->root)) {
        free(box);
        return -1;
    }
    snprintf(box->data_dir, sizeof box->data_dir, "%s/data", box->root);
    *state = box;
    return 0;
}

/* chmod first: some tests take write permission away to provoke failures. */
static int teardown(void **state)
{
    struct sandbox *box = *state;
    char command[256];
    snprintf(command, sizeof command, "chmod -R u+rwx '%s' && rm -rf '%s'", box->root,
             box->root);
    int rc = system(command);
    free(box);
    return rc == 0 ? 0 : -1;
}

#endif
