/*
 * check_main.c - the test runner: every suite of TEST_SUITES, or only those
 * named in $SAMSA_SUITES (space-separated), as the TSan build does.
 */
#include <stdlib.h>
#include <string.h>

#include "test.h"

static int
selected(const char *name)
{
    const char *want = getenv("SAMSA_SUITES");
    if (want == NULL || *want == '\0')
        return 1;
    size_t n = strlen(name);
    for (const char *p = want; (p = strstr(p, name)) != NULL; p += n)
        if ((p == want || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
            return 1;
    return 0;
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
