/*
 * path.c - directory paths: creating one with its missing parents, and
 * joining two strings into a path.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "samsa_int.h"

/* Create each missing component of path, as mkdir -p does; 0 when path
 * is (now) a directory.  A component that exists and is not a directory
 * gives -ENOTDIR; nothing that exists is changed.  Components created
 * before a failure stay (empty directories, which is also what mkdir -p
 * leaves). */
int
samsa__mkdir_p(const char *path, mode_t mode)
{
    char buf[PATH_MAX];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf)
        return n == 0 ? -ENOENT : -ENAMETOOLONG;
    memcpy(buf, path, n + 1);
    /* Each '/' after a component ends a prefix to make; the whole path
     * is the last. */
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        if (buf[i - 1] == '/')
            continue; /* "//": the same prefix again */
        char c = buf[i];
        buf[i] = '\0';
        struct stat st;
        int rc = 0;
        if (mkdir(buf, mode) != 0) {
            rc = errno;
            if (rc == EEXIST)
                rc = stat(buf, &st) != 0   ? errno
                     : S_ISDIR(st.st_mode) ? 0
                                           : ENOTDIR;
        }
        buf[i] = c;
        if (rc != 0)
            return -rc;
    }
    return 0;
}

char *
samsa__path_cat(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 1;
    char *p = malloc(n);
    if (p != NULL)
        snprintf(p, n, "%s%s", a, b);
    return p;
}
