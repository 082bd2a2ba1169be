/*
 * check_main.c - the test runner: every suite of TEST_SUITES, or only those
 * named in $SAMSA_SUITES (space-separated), as the TSan build does, less
 * those named in $SAMSA_SKIP_SUITES (make check splits the ASan run so).
 */
#include <stdlib.h>
#include <string.h>

#include "test.h"

/* Is name a word of the space-separated list? */
static int
listed(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; (p = strstr(p, name)) != NULL; p += n)
        if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
            return 1;
    return 0;
}

static int
selected(const char *name)
{
    const char *want = getenv("SAMSA_SUITES");
    const char *skip = getenv("SAMSA_SKIP_SUITES");
    if (skip != NULL && listed(skip, name))
        return 0;
    return want == NULL || *want == '\0' || listed(want, name);
}

int
main(void)
{
    SRunner *sr = srunner_create(NULL);
#define TEST_ADD(name)                                                         \
    if (selected(#name))                                                       \
        srunner_add_suite(sr, name##_suite());
    TEST_SUITES(TEST_ADD)
#undef TEST_ADD
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
