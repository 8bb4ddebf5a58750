/*
 * The test harness: QEMU guests driven over their serial console and QMP,
 * network namespaces, and processes expected to fail.  Every wait is
 * bounded; every process started is ended by its PID.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "qmp-client.h"
#include "qmp-commands.h"

G_BEGIN_DECLS

#define HARNESS_ERROR (harness_error_quark())
GQuark harness_error_quark(void);

typedef enum {
    HARNESS_ERROR_FAILED,
    HARNESS_ERROR_TIMEOUT,
    HARNESS_ERROR_EXITED,       /* the process or guest went away */
    HARNESS_ERROR_QMP,          /* QMP answered with an error */
    HARNESS_ERROR_PROTOCOL,     /* garbage on the console or QMP */
} HarnessError;

/* ---- Environment ---- */

/*
 * Fails the test program (TAP "Bail out!", exit 1) unless LIMEVI_QEMU is
 * executable and LIMEVI_GUEST_DIR holds vmlinux and initrd.img, and,
 * when @need_root, we are root (namespaces).  Call after g_test_init().
 */
void harness_require(gboolean need_root);

/*
 * Runs @argv (no shell) for at most @timeout_ms; stdout and stderr merged
 * into *@output.  Returns the exit status (128 + signal when killed by
 * one), or -1 with @err set when it could not start or timed out.
 */
int harness_run(const char *const *argv, guint timeout_ms, char **output,
                GError **err);

/*
 * Starts a process that should refuse to start (a QEMU with a bad
 * option): returns its exit status and its stderr in *@stderr_out, or -1
 * with @err set when it could not start or was still running after
 * @timeout_ms (it is then killed).
 */
int harness_run_expect_fail(const char *const *argv, guint timeout_ms,
                            char **stderr_out, GError **err);

/* A UDP port on 127.0.0.1 free right now, e.g. for a dgram netdev. */
guint16 harness_free_udp_port(void);

/* The JSON line about @sender in @output ("probe send" and "probe recv"
 * print one each), or NULL; valid until @parser parses again. */
JsonObject *harness_probe_result(const char *output, const char *sender,
                                 JsonParser *parser);

/* ---- Deadlines, lines and processes (also used by the benches) ---- */

/* A deadline @timeout_ms from now, in g_get_monotonic_time() units. */
gint64 harness_deadline(guint timeout_ms);
/* Milliseconds left until @deadline, rounded up, 0 once it passed. */
int harness_remaining_ms(gint64 deadline);

/* Lines from a pipe or socket, read no later than a deadline. */
typedef struct {
    int fd;
    GString *buf;               /* read, not yet returned */
    GString *log;               /* everything read, when non-NULL */
    gboolean eof;
} HLines;

void hlines_init(HLines *lines, int fd, GString *log);
void hlines_clear(HLines *lines);
/* The next line without its "\r\n", or NULL with @err set (timeout,
 * HARNESS_ERROR_EXITED at end of file). */
char *hlines_read(HLines *lines, gint64 deadline, GError **err);

/* ---- Guest consoles ---- */

/*
 * A guest's serial console as the test guest's init speaks it: "SEQ
 * COMMAND" lines in, each command's output ended by "@@LIMEVI-END SEQ
 * STATUS".  Over QEMU's stdio (hvm_start()) or a unix socket chardev
 * (hconsole_connect(), for VMs the coordinator starts).
 */
typedef struct {
    char *name;                 /* the VM, in messages */
    GOutputStream *in;          /* to the guest */
    HLines out;                 /* from the guest */
    GSocketConnection *conn;    /* when on a socket: owns @in and the fd */
    guint seq;                  /* of the last command sent */
    guint sync_first;           /* first no-op of an unfinished sync */
} HConsole;

/* A console on @in and @out_fd, which stay the caller's; everything read
 * is appended to @log if non-NULL. */
void hconsole_init(HConsole *c, const char *name, GOutputStream *in,
                   int out_fd, GString *log);
/* A console on the unix socket @path, retrying until @deadline while its
 * QEMU starts. */
gboolean hconsole_connect(HConsole *c, const char *name, const char *path,
                          gint64 deadline, GError **err);
void hconsole_clear(HConsole *c);

/*
 * Sends a no-op after a newline that ends any partial input line, and
 * throws away everything up to its end mark, or that of an earlier
 * hconsole_sync() that timed out: the console is in step after a
 * migration, or once a booting guest answers.
 */
gboolean hconsole_sync(HConsole *c, gint64 deadline, GError **err);

/* Runs @cmd (one line of busybox sh) and returns its exit status, with
 * what it printed in *@output if non-NULL; -1 with @err set on timeout or
 * when the console closed. */
int hconsole_exec(HConsole *c, const char *cmd, gint64 deadline,
                  char **output, GError **err);
/* The console's last few hundred bytes read (when it keeps a log). */
const char *hconsole_tail(HConsole *c);

/* A launcher whose children die with the test program: an aborted
 * test leaves no QEMU behind. */
GSubprocessLauncher *harness_launcher_new(GSubprocessFlags flags);
/* Waits at most @timeout_ms for @proc to end; TRUE when it has. */
gboolean harness_wait_process(GSubprocess *proc, guint timeout_ms);
/* Kills @proc by its PID unless it has ended, and reaps it. */
void harness_kill_process(GSubprocess *proc);
/* The exit status, or 128 + signal; @proc must have ended. */
int harness_process_status(GSubprocess *proc);

/* ---- Guests ---- */

typedef struct HVm HVm;

typedef struct {
    const char *name;           /* guest hostname, QEMU -name */
    const char *ip;             /* eth0's "198.18.1.11/24"; NULL: none */
    const char *mac;            /* eth0's MAC; NULL: QEMU's default */
    /* A -netdev value without id (e.g. "dgram,local.type=inet,..."):
     * the harness adds id=LIMEVI_NETDEV_ID ("n0") and a
     * virtio-net-pci on it.  NULL: none. */
    const char *netdev;
    const char *const *extra_args;  /* more QEMU arguments, NULL-ended */
    const char *netns;          /* run QEMU in this namespace; NULL: ours */
    const char *qemu;           /* NULL: $LIMEVI_QEMU */
    const char *guest_dir;      /* NULL: $LIMEVI_GUEST_DIR */
    /* A -incoming value ("defer"): a migration target with no guest of
     * its own until hvm_migrate() brings one; give it the source's
     * devices.  NULL: an ordinary guest that boots. */
    const char *incoming;
    /* "NAME=VALUE" strings added to QEMU's environment; NULL-ended. */
    const char *const *env;
} HVmConfig;

/* Launches the guest (never waits for its boot); QMP is connected and
 * negotiated on return. */
HVm *hvm_start(const HVmConfig *cfg, GError **err);

/* Waits for the guest's init to be ready for commands.  A migration
 * target is ready at once when its source was. */
gboolean hvm_wait_ready(HVm *vm, guint timeout_ms, GError **err);

/*
 * Runs @cmd (one line of busybox sh) in the guest and returns its exit
 * status, with what it printed (stdout and stderr) in *@output if
 * non-NULL; -1 with @err set on timeout or when the guest went away.
 */
int hvm_exec(HVm *vm, const char *cmd, guint timeout_ms, char **output,
             GError **err);
/* hvm_exec() that must succeed: aborts the test with the guest's console
 * or the command's output otherwise.  Returns the output; g_free() it. */
char *hvm_exec_ok(HVm *vm, const char *cmd, guint timeout_ms);

/*
 * Runs QMP @cmd with @args_json (an object, or NULL) and returns its
 * "return" value (json_node_unref() it), or NULL with @err set to
 * "Class: desc" (HARNESS_ERROR_QMP) when QEMU answered an error.
 * Events read meanwhile are queued for hvm_qmp_wait_event().
 */
JsonNode *hvm_qmp(HVm *vm, const char *cmd, const char *args_json,
                  GError **err);

/* Like hvm_qmp() for commands whose return value is not needed. */
gboolean hvm_qmp_ok(HVm *vm, const char *cmd, const char *args_json,
                    GError **err);

/* The guest's QMP connection, for the typed helpers of qmp-commands.h;
 * errors from those are LIMEVI_QMP_ERROR or G_IO_ERROR. */
LimeviQmp *hvm_qmp_client(HVm *vm);

/* Returns the first queued or coming event @name (the whole event
 * object; json_node_unref() it), or NULL with @err set on timeout. */
JsonNode *hvm_qmp_wait_event(HVm *vm, const char *name, guint timeout_ms,
                             GError **err);

/* The one limevi netdev of @vm as query-limevi reports it; asserts there
 * is exactly one.  *@holder owns it: json_node_unref() it. */
JsonObject *hvm_limevi_port(HVm *vm, JsonNode **holder);
/* @peer's route in that netdev's table; asserts there is one.  *@holder
 * owns it: json_node_unref() it. */
JsonObject *hvm_limevi_route(HVm *vm, const char *peer, JsonNode **holder);

const char *hvm_name(HVm *vm);
GPid hvm_pid(HVm *vm);
/* Everything QEMU wrote to stderr so far. */
char *hvm_stderr(HVm *vm);
/* Everything the guest wrote to its console so far. */
const char *hvm_console(HVm *vm);

/* ---- Live migration between two QEMUs on this machine ---- */

typedef struct {
    gboolean return_path;       /* capability "return-path" */
    gboolean switchover_ack;    /* "switchover-ack" (needs return_path) */
    /* "switchover-hold", on @src only: the migration waits, converged,
     * for "migrate-switchover" on @src. */
    gboolean switchover_hold;
    guint downtime_limit_ms;    /* "downtime-limit"; 0: QEMU's default */
    guint64 max_bandwidth;      /* "max-bandwidth", bytes/s; 0: default */
    gboolean no_wait;           /* return once "migrate" is accepted */
    guint timeout_ms;           /* whole migration; 0: 120 s */
    /* The IPv4 address @dst listens on for the migration stream, one
     * that @src can reach: with the two QEMUs in different network
     * namespaces 127.0.0.1 is not shared.  NULL: 127.0.0.1. */
    const char *address;
} HMigrateOptions;

typedef struct {
    guint16 port;               /* dst's listening TCP port */
    gint64 total_time_ms;       /* query-migrate "total-time" */
    gint64 downtime_ms;         /* "downtime", QEMU's own estimate */
    gint64 setup_time_ms;       /* "setup-time" */
    /* The guest's real pause: dst's RESUME event time minus src's STOP
     * event time (QMP timestamps, one clock); -1 until completed (a
     * completed migration without both events is an error). */
    gint64 pause_ms;
} HMigrateResult;

/*
 * Migrates @src's guest into @dst (started with HVmConfig.incoming) over
 * TCP on 127.0.0.1 (or @opts->address): the same capabilities ("events"
 * always) on both sides, the parameters on @src, "migrate-incoming" on
 * @dst on a port QEMU picks, then "migrate" on @src.  Unless
 * @opts->no_wait, waits as hvm_migrate_wait() does and fills @result (may
 * be NULL).  @opts NULL: defaults.  Afterwards hvm_exec() runs commands
 * on @dst; @src stays in "postmigrate" until freed.
 */
gboolean hvm_migrate(HVm *src, HVm *dst, const HMigrateOptions *opts,
                     HMigrateResult *result, GError **err);

/*
 * Waits at most @timeout_ms (0: 120 s) for @src's migration to complete
 * and fills @result (may be NULL).  FALSE with @err set when it failed or
 * was cancelled (QEMU's error-desc in the message), or on timeout (the
 * migration is then cancelled).  To cancel one started with no_wait:
 * hvm_qmp(src, "migrate_cancel", NULL, &err), then this returns FALSE.
 * A failed incoming migration ends @dst's QEMU.
 */
gboolean hvm_migrate_wait(HVm *src, HVm *dst, guint timeout_ms,
                          HMigrateResult *result, GError **err);

/* Quits QEMU over QMP, kills it by PID if it lingers, removes its files. */
void hvm_free(HVm *vm);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(HVm, hvm_free)

/* ---- Network namespaces ---- */

typedef struct HNetns HNetns;

/* Creates namespace "limevi-TAG-PID-N" with lo up. */
HNetns *hnetns_new(const char *tag, GError **err);
/* An existing namespace @name (a script's); hnetns_free() kills what was
 * spawned in it but leaves the namespace. */
HNetns *hnetns_adopt(const char *name);
const char *hnetns_name(HNetns *ns);

/* Runs @argv in @ns like harness_run(). */
int hnetns_run(HNetns *ns, const char *const *argv, guint timeout_ms,
               char **output, GError **err);

/* Starts a long-running @argv in @ns (stdout and stderr discarded); the
 * namespace owns it and kills it by PID in hnetns_free(). */
GSubprocess *hnetns_spawn(HNetns *ns, const char *const *argv,
                          GError **err);

/* Kills what hnetns_spawn() started, then deletes the namespace (not an
 * adopted one). */
void hnetns_free(HNetns *ns);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(HNetns, hnetns_free)

G_END_DECLS
