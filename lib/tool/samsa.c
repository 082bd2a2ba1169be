/*
 * samsa.c - the `samsa` command: look into and operate a store from the
 * shell, as kcat, kafka-topics and kafka-dump-log do for Kafka and
 * mdb_stat for LMDB.  main() dispatches to a subcommand; this file holds
 * the helpers they share (messages, exit codes, opening the store).
 *
 * A command that only reads opens the store read-only
 * (SAMSA_OPEN_RDONLY): it works while an application has the store open,
 * sees what that application acknowledged, and changes nothing.  A
 * command that writes opens it as an application does, with its lock,
 * and fails with SAMSA_ELOCKED while an application has it.  The mirrors an
 * application opens with (samsa_options.replica_dirs) must be given with -R, in
 * the same order: a store opened without its mirrors records their copies as
 * out of sync.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tool.h"

const char *tool_cmd = NULL;
volatile int tool_stop = 0;

static void
vmsg(const char *fmt, va_list ap)
{
    fputs("samsa: ", stderr);
    if (tool_cmd != NULL)
        fprintf(stderr, "%s: ", tool_cmd);
    vfprintf(stderr, fmt, ap);
}

void
tool_msg(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmsg(fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* samsa_strerror() gives "SYMBOL: message"; a message reads better first,
 * so the line becomes "message (SYMBOL)". */
static void
put_error(int rc)
{
    const char *s = samsa_strerror(rc);
    const char *colon = strstr(s, ": ");
    if (colon == NULL)
        fputs(s, stderr);
    else
        fprintf(stderr, "%s (%.*s)", colon + 2, (int)(colon - s), s);
}

int
tool_fail(int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmsg(fmt, ap);
    va_end(ap);
    fputs(": ", stderr);
    put_error(rc);
    fputc('\n', stderr);
    return TOOL_ERR;
}

int
tool_usage(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmsg(fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see samsa %s --help)\n",
            tool_cmd != NULL ? tool_cmd : "");
    return TOOL_USAGE;
}

int
tool_bad_option(char **argv, int c)
{
    /* Option strings start with ':', so getopt says ':' for a missing value
     * and '?' for an unknown option; optopt is 0 for an unknown long one. */
    if (c == ':')
        return tool_usage("%s: needs a value", argv[optind - 1]);
    if (optopt > 0 && optopt < OPT_HELP)
        return tool_usage("-%c: unknown option", optopt);
    return tool_usage("%s: unknown option", argv[optind - 1]);
}

int
tool_int(const char *s, int64_t min, int64_t max, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (s[0] == '\0' || *end != '\0' || errno != 0 || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

int
tool_add_replica(tool_store *ts, const char *dir)
{
    if (ts->nreplicas == SAMSA_MAX_REPLICA_DIRS)
        return tool_usage("-R: at most %d replica directories",
                          SAMSA_MAX_REPLICA_DIRS);
    ts->replicas[ts->nreplicas++] = dir;
    ts->replicas[ts->nreplicas] = NULL;
    return TOOL_OK;
}

int
tool_option(int c, char **argv, tool_store *ts, const char *help)
{
    if (c == 'R')
        return tool_add_replica(ts, optarg) == TOOL_OK ? TOOL_MORE : TOOL_USAGE;
    if (c == OPT_HELP) {
        fputs(help, stdout);
        return TOOL_OK;
    }
    return tool_bad_option(argv, c);
}

/* What an open with TOOL_CREATE is about to make in a directory that holds
 * no store (DIR or a mirror): the files of an empty store and the
 * directories that are not there yet.  A command that then fails (a topic
 * name the library refuses, a Kafka directory that is not one) removes
 * them, so that bad input leaves nothing behind; and only them, as samsa
 * deletes only what it can prove it made: a file that was there before
 * stays, and a directory goes only while empty. */
#define MADE_DIRS 16 /* components of a path made, at most */
static const char *const store_files[] = {"catalog/data.mdb",
                                          "catalog/lock.mdb", "lock"};
enum { NSTORE_FILES = sizeof store_files / sizeof store_files[0] };
typedef struct made_store {
    char *dirs[MADE_DIRS + 1]; /* to make: catalog/, the store's
                                  directory, its parents (deepest first) */
    int ndirs;                 /* dirs[] noted                          */
    char *files[NSTORE_FILES]; /* store_files[] that were not there    */
} made_store;
static made_store made[SAMSA_MAX_REPLICA_DIRS + 1];
static int nmade;

static char *
path_join(const char *dir, const char *name)
{
    char *p = malloc(strlen(dir) + strlen(name) + 2);
    if (p != NULL)
        sprintf(p, "%s/%s", dir, name);
    return p;
}

/* Note what opening dir with SAMSA_OPEN_CREATE will make there. */
static void
made_note(const char *dir)
{
    struct stat st;
    char *data = path_join(dir, store_files[0]);
    int store = data == NULL || stat(data, &st) == 0;
    free(data);
    if (store || nmade == SAMSA_MAX_REPLICA_DIRS + 1)
        return;
    made_store *m = &made[nmade++];
    memset(m, 0, sizeof *m);
    /* catalog/, then dir and each missing parent up to one that exists:
     * the order they can be removed in. */
    char *p = path_join(dir, "catalog");
    if (p != NULL && stat(p, &st) != 0)
        m->dirs[m->ndirs++] = p;
    else
        free(p);
    p = strdup(dir);
    while (p != NULL && m->ndirs < MADE_DIRS && stat(p, &st) != 0 &&
           errno == ENOENT) {
        m->dirs[m->ndirs++] = p;
        char *slash = strrchr(p, '/');
        while (slash != NULL && slash > p && slash[-1] == '/')
            slash--;
        p = slash != NULL && slash > p ? strndup(p, (size_t)(slash - p)) : NULL;
    }
    free(p);
    for (int i = 0; i < NSTORE_FILES; i++) {
        char *f = path_join(dir, store_files[i]);
        if (f != NULL && stat(f, &st) == 0) {
            free(f);
            f = NULL;
        }
        m->files[i] = f;
    }
}

/* Remove what made[] lists: the files while the store is still open (its
 * lock keeps any other opener away), the directories once it is closed
 * (rmdir: only empty ones). */
static void
made_undo(int files)
{
    for (int i = 0; i < nmade; i++) {
        made_store *m = &made[i];
        for (int k = 0; k < NSTORE_FILES && files; k++)
            if (m->files[k] != NULL)
                unlink(m->files[k]);
        for (int k = 0; k < m->ndirs && !files; k++)
            rmdir(m->dirs[k]);
    }
}

static void
made_forget(void)
{
    for (int i = 0; i < nmade; i++) {
        for (int k = 0; k < made[i].ndirs; k++)
            free(made[i].dirs[k]);
        for (int k = 0; k < NSTORE_FILES; k++)
            free(made[i].files[k]);
    }
    nmade = 0;
}

/* Which directory samsa_open()'s SAMSA_ENOTSTORE is about (it does not
 * say): the first of DIR and the mirrors that holds no catalog/data.mdb
 * and something other than what an open makes (lock, catalog/); DIR when
 * none does.  A message naming DIR for a mirror that is someone else's
 * directory would send the user to the wrong one. */
static const char *
not_store_dir(const char *dir, const tool_store *ts)
{
    for (int i = -1; i < ts->nreplicas; i++) {
        const char *d = i < 0 ? dir : ts->replicas[i];
        char *data = path_join(d, store_files[0]);
        struct stat st;
        int store = data == NULL || stat(data, &st) == 0;
        free(data);
        DIR *dh = store ? NULL : opendir(d);
        struct dirent *e;
        int foreign = 0;
        while (dh != NULL && !foreign && (e = readdir(dh)) != NULL)
            foreign = strcmp(e->d_name, ".") != 0 &&
                      strcmp(e->d_name, "..") != 0 &&
                      strcmp(e->d_name, "lock") != 0 &&
                      strcmp(e->d_name, "catalog") != 0;
        if (dh != NULL)
            closedir(dh);
        if (foreign)
            return d;
    }
    return dir;
}

int
tool_open(const char *dir, const tool_store *ts, int mode, samsa **out)
{
    int create = mode == TOOL_CREATE;
    if (create) {
        made_note(dir);
        for (int i = 0; i < ts->nreplicas; i++)
            made_note(ts->replicas[i]);
    }
    /* Only topic create may make a store: a command that reads must not
     * leave a new store behind in an empty directory it was pointed at by
     * mistake.  DIR/catalog/data.mdb is what samsa(7) says a store has. */
    if (!create) {
        char path[PATH_MAX];
        struct stat st;
        if (stat(dir, &st) != 0)
            return tool_fail(-errno, "%s", dir);
        snprintf(path, sizeof path, "%s/catalog/data.mdb", dir);
        if (stat(path, &st) != 0) {
            tool_msg("%s: no samsa store there (no catalog/data.mdb) "
                     "(SAMSA_ENOTSTORE)",
                     dir);
            return TOOL_ERR;
        }
        /* LMDB opens it with a blocking open(): a FIFO there would hang
         * the command for ever. */
        if (!S_ISREG(st.st_mode)) {
            tool_msg("%s: no samsa store there (catalog/data.mdb is not a "
                     "regular file) (SAMSA_ENOTSTORE)",
                     dir);
            return TOOL_ERR;
        }
    }
    samsa_options opt = {.flags = create              ? SAMSA_OPEN_CREATE
                                  : mode == TOOL_READ ? SAMSA_OPEN_RDONLY
                                                      : 0,
                         .replica_dirs = ts->nreplicas ? ts->replicas : NULL};
    int rc = samsa_open(dir, &opt, out);
    if (rc != 0) {
        /* No handle, so no lock: another process may be making the same
         * store now; only directories made and still empty go. */
        made_undo(0);
        made_forget();
    }
    if (rc == SAMSA_ELOCKED) {
        tool_msg("%s: the store is open in another process (SAMSA_ELOCKED); "
                 "commands that write need it closed: stop that process "
                 "first",
                 dir);
        return TOOL_ERR;
    }
    if (rc == SAMSA_ENOTSTORE)
        return tool_fail(rc, "%s", not_store_dir(dir, ts));
    if (rc != 0)
        return tool_fail(rc, "%s", dir);
    return TOOL_OK;
}

int
tool_close_made(samsa *s, int st)
{
    if (st != TOOL_OK)
        made_undo(1);
    int rc = tool_close(s);
    if (st != TOOL_OK)
        made_undo(0);
    made_forget();
    return rc != TOOL_OK ? rc : st;
}

int
tool_options_plain(int argc, char **argv, tool_store *ts, const char *help)
{
    static const struct option longopts[] = {
        {"replica-dir", required_argument, NULL, 'R'},
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0}};
    int c, st;
    while ((c = getopt_long(argc, argv, ":R:", longopts, NULL)) != -1)
        if ((st = tool_option(c, argv, ts, help)) != TOOL_MORE)
            return st;
    return TOOL_MORE;
}

int
tool_open_arg(int argc, char **argv, const tool_store *ts, int mode,
              samsa **out)
{
    if (argc - optind != 1)
        return tool_usage(optind == argc ? "no DIR given" : "one DIR only");
    return tool_open(argv[optind], ts, mode, out);
}

int
tool_close(samsa *s)
{
    int rc = samsa_close(s);
    if (rc != 0)
        return tool_fail(rc, "close");
    return TOOL_OK;
}

static void
on_signal(int sig)
{
    (void)sig;
    tool_stop = 1;
}

void
tool_signals(void)
{
    /* No SA_RESTART: a blocked read of stdin returns EINTR, and the
     * command closes the store before it exits. */
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

void
tool_put_escaped(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t c = p[i];
        if (c == '\\')
            fputs("\\\\", stdout);
        else if (c == '\n')
            fputs("\\n", stdout);
        else if (c == '\t')
            fputs("\\t", stdout);
        else if (c < 0x20 || c == 0x7f)
            printf("\\x%02x", c);
        else
            putchar(c);
    }
}

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *what;
} commands[] = {
    {"topics", cmd_topics, "list the topics (--describe: their partitions)"},
    {"topic", cmd_topic, "create or delete a topic"},
    {"produce", cmd_produce, "produce the lines of standard input"},
    {"consume", cmd_consume, "print the records of a topic"},
    {"dump", cmd_dump, "print the batches of a segment file"},
    {"verify", cmd_verify, "check every batch of every copy (--repair)"},
    {"adopt", cmd_adopt, "make a topic of a Kafka partition directory"},
    {"groups", cmd_groups, "list the consumer and share groups"},
    {"group", cmd_group, "describe, reset or delete a consumer group"},
    {"stats", cmd_stats, "the store's figures (--json)"},
    {"serve", cmd_serve, "serve the store to Kafka clients (--listen)"},
#ifdef SAMSA_KAFKA
    {"mirror", cmd_mirror, "copy topics to a Kafka cluster, resumably"},
    {"import", cmd_import, "copy a Kafka topic into the store"},
#endif
};

static int
usage(FILE *f)
{
    fprintf(f, "usage: samsa COMMAND [OPTION]... ARG...\n"
               "       samsa COMMAND --help\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].what);
    fprintf(f, "\nExit status: 0 success, 1 error, 2 usage error.  "
               "See samsa(1).\n");
    return f == stdout ? TOOL_OK : TOOL_USAGE;
}

/* A command's exit status once what it printed is out: a listing that
 * did not reach standard output (a full disk, a closed descriptor) is an
 * error, not a success with nothing or half of it printed.  A reader that
 * went away (EPIPE: samsa ... | head) is none, as in consume. */
static int
out_status(int st)
{
    errno = 0;
    int failed = fflush(stdout) != 0 ? errno != EPIPE : ferror(stdout);
    if (failed && st == TOOL_OK)
        return tool_fail(errno != 0 ? -errno : SAMSA_EIO, "standard output");
    return st;
}

int
main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "samsa: no command (see samsa --help)\n");
        return TOOL_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
        return out_status(usage(stdout));
    if (strcmp(argv[1], "--version") == 0) {
        printf("samsa %s\n", samsa_version_string());
        return out_status(TOOL_OK);
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0) {
            tool_cmd = commands[i].name;
            return out_status(commands[i].fn(argc - 1, argv + 1));
        }
    fprintf(stderr, "samsa: %s: no such command (see samsa --help)\n", argv[1]);
    return TOOL_USAGE;
}
