/*
 * rtlab - a lab for the four ways a server pushes real-time updates:
 * short polling, long polling, Server-Sent Events and WebSockets.
 *
 * This file is the table of contents: each subcommand lives in its module.
 */
#include <stdio.h>
#include <string.h>

#include "rt_clients.h"
#include "rt_harness.h"
#include "rt_sim.h"

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *what;
} commands[] = {
    {"serve", rt_cmd_serve, "run a server: short|long|sse|ws|all"},
    {"publish", rt_cmd_publish, "publish one message over HTTP"},
    {"client", rt_cmd_client, "receive a topic's messages: short|long|sse|ws"},
    {"load", rt_cmd_load, "many clients and a publisher against a server: short|long|sse|ws"},
    {"sim", rt_cmd_sim, "simulate many clients of an approach: costs at scale"},
    {"plot", rt_cmd_plot, "the simulator's sweeps drawn with gnuplot: PNG and SVG"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: rtlab COMMAND [options]   (rtlab COMMAND --help for its options)\n\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].what);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "rtlab: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
