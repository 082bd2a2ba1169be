/*
 * error.c - error strings, version, errno translation.
 *
 * The messages come from SAMSA_ERRNO_MAP in samsa.h, the same table that
 * defines the codes, so the two cannot drift apart.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "samsa_int.h"

#define STR_(x) #x
#define STR(x)  STR_(x)

SAMSA_API unsigned
samsa_version(void)
{
    return SAMSA_VERSION_NUM;
}

SAMSA_API const char *
samsa_version_string(void)
{
    return STR(SAMSA_VERSION_MAJOR) "." STR(SAMSA_VERSION_MINOR) "." STR(
        SAMSA_VERSION_PATCH);
}

SAMSA_API const char *
samsa_strerror(int rc)
{
    switch (rc) {
    case 0:
        return "success";
#define SAMSA_XX_STR(name, value, msg)                                         \
    case value:                                                                \
        return "SAMSA_" #name ": " msg;
        SAMSA_ERRNO_MAP(SAMSA_XX_STR)
#undef SAMSA_XX_STR
    default:
        break;
    }
    if (rc < 0 && rc > -4096) {
        /* An operating-system error passed through as -errno.  glibc's
         * strerrorname_np/strerrordesc_np return static strings; the
         * combined text goes to a per-thread buffer so that concurrent
         * callers do not overwrite each other's message. */
        static _Thread_local char buf[160];
        const char *name = strerrorname_np(-rc);
        const char *desc = strerrordesc_np(-rc);
        if (name != NULL && desc != NULL) {
            snprintf(buf, sizeof buf, "%s: %s", name, desc);
            return buf;
        }
    }
    return "SAMSA_UNKNOWN: unknown error";
}

int
samsa__from_errno(int err)
{
    if (err < 0)
        err = -err;
    switch (err) {
    case 0:
        return 0;
    case EIO:
        return SAMSA_EIO;
    case ENOSPC:
    case EDQUOT:
        return SAMSA_ENOSPC;
    case ENOMEM:
        return SAMSA_ENOMEM;
    default:
        return -err;
    }
}
