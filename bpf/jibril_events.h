/* Records and map keys shared by bpf/jibril.bpf.c and jibril_rules/sensor/layout.py.
 *
 * Every layout here is part of the kernel ABI of the sensor: tests/test_sensor_layout.py
 * compares the ctypes mirrors against what clang computes for these structs.
 * Only fixed-width types; no kernel headers needed (bcc provides __u8.. __u64).
 */
#ifndef JIBRIL_EVENTS_H
#define JIBRIL_EVENTS_H

/* File action bits (jibril_rules.core.vocab.FILE_ACTIONS). */
#define JB_FA_FASYNC 0
#define JB_FA_FLOCK 1
#define JB_FA_FSYNC 2
#define JB_FA_LLSEEK 3
#define JB_FA_MMAP 4
#define JB_FA_OPEN 5
#define JB_FA_READ 6
#define JB_FA_WRITE 7
#define JB_FA_RENAME 8
#define JB_FA_TRUNCATE 9
#define JB_FA_UNLINK 10
#define JB_FA_CREATE 11
#define JB_FA_CLOSE 12
#define JB_FA_LINK 13
#define JB_FA_EXECVE 14
#define JB_FA_ALL 0x7fff
/* Actions observed on an open descriptor: the (tgid, fd) map tracks a file for these. */
#define JB_FA_FD_MASK ((1 << JB_FA_FASYNC) | (1 << JB_FA_FLOCK) | (1 << JB_FA_FSYNC) | \
                       (1 << JB_FA_LLSEEK) | (1 << JB_FA_MMAP) | (1 << JB_FA_READ) |    \
                       (1 << JB_FA_WRITE) | (1 << JB_FA_TRUNCATE) | (1 << JB_FA_CLOSE))

/* Flow flag bits (jibril_rules.core.vocab.FLOW_FLAGS). */
#define JB_FF_CREATED 0
#define JB_FF_INGRESS 1
#define JB_FF_EGRESS 2
#define JB_FF_INCOMING 3
#define JB_FF_OUTGOING 4
#define JB_FF_ONGOING 5
#define JB_FF_STARTED 6
#define JB_FF_ENDED 7
#define JB_FF_TERMINATOR 8
#define JB_FF_TERMINATED 9

/* Record types (jb_hdr.type). */
#define JB_EV_EXEC 1
#define JB_EV_FORK 2
#define JB_EV_EXIT 3
#define JB_EV_FILE 4 /* path-based file action */
#define JB_EV_FDIO 5 /* action on a tracked descriptor */
#define JB_EV_FLOW 6
#define JB_EV_DNS 7

/* Sensors, for the per-sensor counters: stats[sensor * JB_NSTATS + JB_STAT_*]. */
#define JB_S_EXEC 0
#define JB_S_PROC 1
#define JB_S_FILE 2
#define JB_S_FDIO 3
#define JB_S_NET 4
#define JB_S_DNS 5
#define JB_NSENSORS 6
#define JB_STAT_SEEN 0 /* hook ran for a candidate event */
#define JB_STAT_SENT 1 /* record written to the ring buffer */
#define JB_STAT_LOST 2 /* ring buffer full: record dropped */
#define JB_NSTATS 3

/* jb_file_event.flags / jb_exec_event.flags */
#define JB_F_RELATIVE 1   /* path not absolute: userspace resolves against cwd/dirfd */
#define JB_F_NONCANON 2   /* "//", "/./" or "/../" inside: userspace normalises */
#define JB_F_TRUNCATED 4  /* path did not fit JB_PATH_MAX: passed unchecked */
#define JB_F_SILENT 8     /* not an event: only registers a tracked descriptor */
#define JB_F_PASSED 16    /* exec: passed the kernel filter (exec records are always sent) */
#define JB_F_ARGS_TRUNC 32
#define JB_F_CHDIR 64     /* chdir/fchdir: userspace tracks each process's cwd */

/* jb_fd_val.kind */
#define JB_FD_FILE 1
#define JB_FD_DNS 2

#define JB_PATH_MAX 255 /* core/kernel_tables.py MAX_PATH reads it */
#define JB_ARGS_SIZE 1024
#define JB_ARG_MAX 256
#define JB_MAX_ARGS 24
#define JB_DNS_MAX 1024
#define JB_AT_FDCWD (-100)

/* FNV-1a 64 of the path / basename bytes: key of the exact and basename hash maps. */
#define JB_FNV_OFFSET 0xcbf29ce484222325ULL
#define JB_FNV_PRIME 0x100000001b3ULL

struct jb_hdr {
    __u32 type;
    __u32 tgid;
    __u32 tid;
    __u32 uid;
    __u64 ts; /* bpf_ktime_get_boot_ns() */
    char comm[16];
};

/* Also the LPM-trie key of file_prefix: data = gen byte + path bytes. */
struct jb_pathkey {
    __u32 prefixlen;
    __u8 gen;
    char path[JB_PATH_MAX];
};

struct jb_file_event {
    struct jb_hdr h;
    __u32 actions; /* action bits of this event */
    __u32 flags;   /* JB_F_* */
    __s32 dfd;     /* dirfd for relative paths (JB_AT_FDCWD: cwd) */
    __s32 ret;     /* fd for opens */
    __u32 mask;    /* kernel mask of the path (which actions are watched) */
    __u32 _pad;
    __u64 file_id; /* opens of tracked files: the id later jb_fdio_event records carry */
    struct jb_pathkey pk;
};

struct jb_exec_event {
    struct jb_hdr h;
    __u32 flags;
    __u32 args_len; /* bytes used in args: NUL-separated argv */
    __u32 argc;
    __u32 ppid_hint; /* tgid of the execing task before exec (old_pid) */
    struct jb_pathkey pk;
    char args[JB_ARGS_SIZE];
};

struct jb_proc_event { /* fork and exit */
    struct jb_hdr h;
    __u32 child; /* fork: child pid */
    __s32 code;  /* exit: exit_group status */
};

struct jb_fdio_event {
    struct jb_hdr h;
    __u32 actions;
    __s32 fd;
    __u64 file_id;
};

struct jb_flow_event {
    struct jb_hdr h; /* owner of the socket (not current: may run in softirq) */
    __u32 flags;     /* JB_FF_* bits */
    __u16 family;    /* AF_INET / AF_INET6 */
    __u16 proto;     /* IPPROTO_TCP / IPPROTO_UDP */
    __u16 lport;
    __u16 rport;
    __u32 _pad;
    __u8 laddr[16];
    __u8 raddr[16];
};

struct jb_dns_event {
    struct jb_hdr h;
    __u32 len;
    __u32 _pad;
    __u8 data[JB_DNS_MAX];
};

/* ---- map keys and values ---- */
struct jb_hkey { /* file_exact, file_base */
    __u64 hash;
    __u32 gen;
    __u32 _pad;
};

struct jb_cidr_key { /* net_rcidr, net_lcidr: prefixlen = 32 + cidr bits */
    __u32 prefixlen;
    __u8 gen;
    __u8 family; /* 4 or 6 */
    __u8 _pad[2];
    __u8 addr[16];
};

struct jb_port_key {
    __u16 port;
    __u8 gen;
    __u8 remote; /* 1 remote port, 0 local port */
};

struct jb_cfg { /* cfg[gen] */
    __u32 file_any;
    __u32 file_tables; /* any file table non-empty or file_any != 0 */
    __u32 exec_any;
    __u32 net_any;
    __u32 net_tables; /* any network table non-empty */
    __u32 _pad;
};

struct jb_ctl { /* ctl[0]: the generation in use and the agent's own tgid */
    __u32 gen;
    __u32 self_tgid;
};

struct jb_fd_key {
    __u32 tgid;
    __s32 fd;
};

struct jb_fd_val {
    __u64 file_id;
    __u32 mask; /* path mask at open */
    __u32 seen; /* actions already reported for this descriptor */
    __u32 kind; /* JB_FD_* */
    __u32 _pad;
};

struct jb_owner { /* sk_owner, listen_owner: who owns a socket */
    __u32 tgid;
    __u32 uid;
    char comm[16];
    __u32 flags; /* direction flags of the flow */
    __u32 ended;
};

struct jb_listen_key {
    __u16 family;
    __u16 port;
};

#endif
