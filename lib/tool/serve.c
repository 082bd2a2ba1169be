/*
 * serve.c - `samsa serve DIR [--listen HOST:PORT] [--users FILE]`: serve a
 * store to Kafka clients (samsa_listener_open(3)) until SIGINT or SIGTERM.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tool.h"

static const char serve_help[] =
    "usage: samsa serve [--listen HOST:PORT] [--advertise HOST]\n"
    "                   [--users FILE] [-R REPLICA_DIR]... DIR\n"
    "Serve the topics of the store in DIR over Kafka's protocol until\n"
    "interrupted (SIGINT, SIGTERM): any Kafka client produces and fetches.\n"
    "  -l, --listen HOST:PORT  where to listen (default 127.0.0.1:9092;\n"
    "                          port 0: any free port; [ADDR]:PORT for IPv6)\n"
    "  -a, --advertise HOST    the host told to clients (default: HOST)\n"
    "  -u, --users FILE        clients must log in with SASL/PLAIN as one of\n"
    "                          FILE's users (user:password lines; passwords\n"
    "                          cross the network in the clear)\n"
    "  -R, --replica-dir DIR   a mirror directory (repeat, in order)\n";

/* HOST:PORT or [HOST]:PORT into host (a copy, malloc) and port. */
static int
parse_listen(const char *arg, char **host, int *port)
{
    const char *colon = strrchr(arg, ':');
    if (colon == NULL)
        return -1;
    int64_t p;
    if (tool_int(colon + 1, 0, 65535, &p) != 0)
        return -1;
    const char *h = arg;
    size_t len = (size_t)(colon - arg);
    if (len >= 2 && h[0] == '[' && h[len - 1] == ']') {
        h++;
        len -= 2;
    }
    if (len == 0 || (*host = strndup(h, len)) == NULL)
        return -1;
    *port = (int)p;
    return 0;
}

int
cmd_serve(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"listen", required_argument, NULL, 'l'},
        {"advertise", required_argument, NULL, 'a'},
        {"users", required_argument, NULL, 'u'},
        {"replica-dir", required_argument, NULL, 'R'},
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0}};
    tool_store ts = {.nreplicas = 0};
    samsa_listener_config cfg = {.port = 9092};
    char *host = NULL;
    int c, st;
    while ((c = getopt_long(argc, argv, ":l:a:u:R:", longopts, NULL)) != -1) {
        if (c == 'l') {
            free(host);
            host = NULL;
            if (parse_listen(optarg, &host, &cfg.port) != 0)
                return tool_usage("--listen takes HOST:PORT, not '%s'", optarg);
        } else if (c == 'a') {
            cfg.advertised_host = optarg;
        } else if (c == 'u') {
            cfg.users_file = optarg;
        } else if ((st = tool_option(c, argv, &ts, serve_help)) != TOOL_MORE) {
            free(host);
            return st;
        }
    }
    cfg.host = host;
    samsa *s;
    if ((st = tool_open_arg(argc, argv, &ts, TOOL_WRITE, &s)) != TOOL_OK) {
        free(host);
        return st;
    }
    tool_signals();
    /* Signals are held until sigsuspend(): one that comes before it is
     * not lost between the check of tool_stop and the wait. */
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigprocmask(SIG_BLOCK, &block, &old);
    samsa_listener *l;
    int rc = samsa_listener_open(s, &cfg, &l);
    if (rc != 0) {
        sigprocmask(SIG_SETMASK, &old, NULL);
        /* The users file's problems (malformed, unreadable) come back
         * as this one error too: name it. */
        st = tool_fail(rc, "cannot listen on %s%s%s", host ? host : "127.0.0.1",
                       cfg.users_file ? " with users file " : "",
                       cfg.users_file ? cfg.users_file : "");
        free(host);
        (void)tool_close(s);
        return st;
    }
    printf("serving %s on %s:%d\n", argv[optind], host ? host : "127.0.0.1",
           samsa_listener_port(l));
    fflush(stdout);
    while (!tool_stop)
        sigsuspend(&old);
    sigprocmask(SIG_SETMASK, &old, NULL);
    samsa_listener_close(l);
    free(host);
    return tool_close(s);
}
