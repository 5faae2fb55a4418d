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
#define JB_EV_EXEC2 8 /* exec from sched_process_exec with BTF-read fields (jb_exec2_event) */
#define JB_EV_OBJ 9   /* file action on an object (fd -> file -> dentry walk): jb_obj_event */

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
#define JB_F_PREVENTED 128 /* exec: killed in the kernel (prevent: kill, enforce mode) */
#define JB_F_WOULD 256     /* exec: a prevent recipe matched in monitor mode */
#define JB_F_CWD_TRUNC 512 /* exec: cwd deeper than JB_DEPTH components */

/* prevent actions (values of the prevent maps) and per-recipe modes (recipe_mode map). */
#define JB_PREVENT_KILL 1
#define JB_PREVENT_DENY 2
#define JB_MODE_MONITOR 0
#define JB_MODE_ENFORCE 1
/* cfg.fb: which groups of the raw_syscalls fallback run */
#define JB_FB_OPEN 1  /* open/openat/openat2/creat at sys_exit (object path) */
#define JB_FB_PATH 2  /* unlink/rename/link/truncate/chdir at sys_exit (user string) */
#define JB_FB_FD 4    /* read/write/mmap/lseek/fsync/flock/fcntl/ftruncate at sys_exit */
#define JB_FB_CLOSE 8 /* close at sys_enter (the only action that needs sys_enter) */
#define JB_DEPTH 24   /* path components walked from a dentry */

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

struct jb_exec2_event {
    struct jb_hdr h;
    __u32 flags;
    __u32 args_len;   /* bytes of mm->arg_start..arg_end copied into args */
    __u32 ppid_hint;  /* old_pid of the exec */
    __u32 prevent;    /* recipe id of the prevent entry that matched (flags PREVENTED/WOULD) */
    __u64 exe_ino;
    __u32 exe_dev;
    __u32 ppid;       /* real_parent->tgid */
    struct jb_pathkey pk;   /* exe path from the dentry walk of bprm->file */
    char cwd[JB_PATH_MAX];  /* task->fs->pwd, same walk */
    char args[JB_ARGS_SIZE];
};

struct jb_obj_event { /* file action seen through the fallback on an object */
    struct jb_hdr h;
    __u32 actions;
    __u32 flags;
    __u32 mask;
    __s32 fd;
    __u64 ino;
    struct jb_pathkey pk;
};

struct jb_dval { /* dcache: verdict for a dentry (0 mask: discarded) */
    __u32 tag;  /* gen | epoch << 1 at insertion: stale after a reload or a rename */
    __u32 mask;
    __u64 hash_len; /* d_name.hash_len at insertion: guards against a reused dentry */
    __u64 mnt;
};

struct jb_fseen { /* per open file: actions already reported */
    __u64 dentry;
    __u32 seen;
    __u32 _pad;
};

struct jb_prevent {
    __u32 recipe;
    __u32 action; /* JB_PREVENT_* */
};

struct jb_cfg2 { /* cfg2[gen] of the new program */
    __u32 file_any;
    __u32 file_tables;
    __u32 exec_any;
    __u32 fb;        /* JB_FB_* groups in use */
    __u32 prevent;   /* any prevent entry in this generation */
    __u32 fbmask;    /* file actions the fallback serves (others: marks, or nobody) */
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

/* ---- cgroup network mechanism (bpf/jibril_cgroup.bpf.c) ---- */
#define JB_FF_DENIED 16     /* jb_flow_event.flags: prevent: deny refused it (EPERM) */
#define JB_FF_WOULD_DENY 17 /* monitor mode: a deny rule holds, the operation went on */
#define JB_MAX_DENY 64 /* deny rules per bundle: bits of a u64 */
#define JB_QNAME_KEY 64 /* block_dom: wire-format names up to 64 bytes (root byte included) */

struct jb_qname_key { /* block_dom (LPM trie): prefixlen = 8 * wire length */
    __u32 prefixlen;
    __u8 name[JB_QNAME_KEY];
};

struct jb_deny_cfg { /* deny_cfg[gen] */
    __u64 rules;        /* bit i: deny rule i exists */
    __u64 enforce;      /* bit i: rule i is in enforce mode (else: would prevent) */
    __u64 any_cidr;     /* rules without a CIDR condition */
    __u64 any_port;     /* rules without a port condition */
    __u64 netns_cookie; /* nonzero: rules hold only in this network namespace */
    __u64 domains;      /* block_dom has entries */
};

#endif
