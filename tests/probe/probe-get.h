/*
 * probe get: an HTTP download read at an even pace, reporting the
 * longest time a due read waited for the network.
 */
#ifndef PROBE_GET_H
#define PROBE_GET_H

#include <netinet/in.h>

/* "probe get ...": the exit status. */
int probe_get(int argc, char **argv);

/* A decimal in [min, max] into *out; 0, or -1 (probe.c). */
int parse_num(const char *s, long long min, long long max, long long *out);

/* "IPv4:PORT" into *sa; 0, or -1 (probe.c). */
int parse_ipv4_endpoint(const char *s, struct sockaddr_in *sa);

#endif /* PROBE_GET_H */
