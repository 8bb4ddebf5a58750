/*
 * probe disk: a guest's disk written with a known pattern, paced, then
 * read back and checked, for tests of disks that move with their VM.
 */
#ifndef PROBE_DISK_H
#define PROBE_DISK_H

/* "probe disk ...": the exit status. */
int probe_disk(int argc, char **argv);

/* A decimal in [min, max] into *out; 0, or -1 (probe.c). */
int parse_num(const char *s, long long min, long long max, long long *out);

#endif /* PROBE_DISK_H */
