/* jibril-rules sensor: one fixed program set, driven only by map contents.
 *
 * Loaded through bcc (jibril_rules/sensor/bccload.py). Only tracepoint arguments and BPF
 * helpers are read, never kernel struct fields: the kernel has no matching headers.
 * Tables are double-buffered: every key holds a generation byte and ctl[0].gen selects the
 * live one, so userspace fills generation g^1, flips ctl, then deletes generation g.
 * Sizes can be overridden with -D (JB_MAX_* below).
 */
#include <uapi/linux/ptrace.h>
#include "jibril_events.h"

#ifndef JB_MAX_EXACT
#define JB_MAX_EXACT 131072
#endif
#ifndef JB_MAX_PREFIX
#define JB_MAX_PREFIX 32768
#endif
#ifndef JB_MAX_BASE
#define JB_MAX_BASE 32768
#endif
#ifndef JB_MAX_CIDR
#define JB_MAX_CIDR 32768
#endif
#ifndef JB_MAX_PORTS
#define JB_MAX_PORTS 8192
#endif
#ifndef JB_MAX_FDS
#define JB_MAX_FDS 65536
#endif
#ifndef JB_RB_PAGES
#define JB_RB_PAGES 4096
#endif

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define O_WRONLY 01
#define O_RDWR 02
#define O_CREAT 0100
#define O_TRUNC 01000
#define CLONE_THREAD 0x10000
#define EINPROGRESS 115
#define TCP_ESTABLISHED 1
#define TCP_SYN_SENT 2
#define TCP_SYN_RECV 3
#define TCP_FIN_WAIT1 4
#define TCP_CLOSE 7
#define TCP_CLOSE_WAIT 8
#define TCP_LISTEN 10

BPF_RINGBUF_OUTPUT(events, JB_RB_PAGES);
BPF_ARRAY(ctl, struct jb_ctl, 1);
BPF_ARRAY(cfg, struct jb_cfg, 2);
BPF_PERCPU_ARRAY(stats, u64, JB_NSENSORS * JB_NSTATS);
BPF_HASH(file_exact, struct jb_hkey, u32, JB_MAX_EXACT);
BPF_HASH(file_base, struct jb_hkey, u32, JB_MAX_BASE);
BPF_LPM_TRIE(file_prefix, struct jb_pathkey, u32, JB_MAX_PREFIX);
BPF_LPM_TRIE(net_rcidr, struct jb_cidr_key, u8, JB_MAX_CIDR);
BPF_LPM_TRIE(net_lcidr, struct jb_cidr_key, u8, JB_MAX_CIDR);
BPF_HASH(net_ports, struct jb_port_key, u8, JB_MAX_PORTS);

/* runtime state */
BPF_PERCPU_ARRAY(scratch_file, struct jb_file_event, 1);
BPF_PERCPU_ARRAY(scratch_exec, struct jb_exec_event, 1);
BPF_PERCPU_ARRAY(scratch_dns, struct jb_dns_event, 1);
BPF_PERCPU_ARRAY(file_ids, u64, 1);
BPF_TABLE("lru_hash", u64, struct jb_file_event, file_stash, 4096);
BPF_TABLE("lru_hash", u32, struct jb_exec_event, exec_stash, 1024);
BPF_TABLE("lru_hash", struct jb_fd_key, struct jb_fd_val, fds, JB_MAX_FDS);
BPF_TABLE("lru_hash", u32, u8, clone_threads, 4096);
BPF_TABLE("lru_hash", u32, s32, exit_codes, 4096);
BPF_TABLE("lru_hash", u32, struct jb_flow_event, conn_stash, 4096);
BPF_TABLE("lru_hash", u64, struct jb_owner, sk_owner, 65536);
BPF_TABLE("lru_hash", struct jb_listen_key, struct jb_owner, listen_owner, 8192);
struct jb_recv_stash { u64 buf; u64 addr; s32 fd; u32 dns; };
BPF_TABLE("lru_hash", u32, struct jb_recv_stash, recv_stash, 4096);

static __always_inline void stat_inc(u32 sensor, u32 kind)
{
    u32 idx = sensor * JB_NSTATS + kind;
    u64 *v = stats.lookup(&idx);
    if (v)
        *v += 1;
}

static __always_inline void emit(void *rec, u32 size, u32 sensor)
{
    if (events.ringbuf_output(rec, size, 0) == 0)
        stat_inc(sensor, JB_STAT_SENT);
    else
        stat_inc(sensor, JB_STAT_LOST);
}

/* Returns the live config, or NULL when current is the agent itself. */
static __always_inline struct jb_cfg *live_cfg(u32 *gen)
{
    u32 zero = 0;
    struct jb_ctl *c = ctl.lookup(&zero);
    if (!c)
        return 0;
    if (c->self_tgid == (u32)(bpf_get_current_pid_tgid() >> 32))
        return 0;
    u32 g = c->gen & 1;
    *gen = g;
    return cfg.lookup(&g);
}

static __always_inline void fill_hdr(struct jb_hdr *h, u32 type)
{
    u64 pt = bpf_get_current_pid_tgid();
    h->type = type;
    h->tgid = pt >> 32;
    h->tid = (u32)pt;
    h->uid = (u32)bpf_get_current_uid_gid();
    h->ts = bpf_ktime_get_boot_ns();
    bpf_get_current_comm(&h->comm, sizeof(h->comm));
}

/* 1 when a == b, without a branch (x ^ y < 2^32, so only 0 - 1 borrows into bit 63):
 * keeps the path walk to one conditional jump per byte for the verifier. */
static __always_inline u64 eq64(u64 a, u64 b)
{
    return ((a ^ b) - 1) >> 63;
}

/* The kernel filter: mask of actions watched for the path in pk (read with length len,
 * NUL included). Mirrors jibril_rules.runtime.kernel_model.KernelModel.file_mask; paths the
 * tables cannot judge (relative, non-canonical, too long) pass whole when any file table
 * is in use, and userspace resolves and re-checks them. */
static __always_inline u32 path_mask(struct jb_pathkey *pk, int len, struct jb_cfg *c,
                                     u32 gen, u32 *flags)
{
    u32 m = c->file_any;
    if (len <= 1)
        return m;
    if (pk->path[0] != '/') {
        *flags |= JB_F_RELATIVE;
        return c->file_tables ? JB_FA_ALL : m;
    }
    if (len >= JB_PATH_MAX) {
        *flags |= JB_F_TRUNCATED;
        return c->file_tables ? JB_FA_ALL : m;
    }
    /* FNV-1a of the whole path and of its last component; "//", "/./", "/../" and a
     * trailing "/." or "/.." make the path non-canonical. Branch-free body. */
    u64 full = JB_FNV_OFFSET, base = JB_FNV_OFFSET, odd = 0, win = 0;
    u32 n = len - 1;
#pragma clang loop unroll(disable)
    for (u32 i = 0; i < JB_PATH_MAX - 1; i++) {
        if (i >= n)
            break;
        u32 j = i;
        asm volatile("" : "+r"(j)); /* keep the indexed access: the verifier bounds j */
        if (j >= JB_PATH_MAX)
            break;
        u64 ch = (u8)pk->path[j];
        u64 slash = eq64(ch, '/');
        u64 keep = slash - 1; /* all ones unless ch is '/' */
        full = (full ^ ch) * JB_FNV_PRIME;
        base = (JB_FNV_OFFSET & ~keep) | (((base ^ ch) * JB_FNV_PRIME) & keep);
        win = ((win << 8) | ch) & 0xffffffff;
        odd |= eq64(win & 0xffff, 0x2f2f) | eq64(win & 0xffffff, 0x2f2e2f) |
               eq64(win, 0x2f2e2e2f);
    }
    odd |= eq64(win & 0xffff, 0x2f2e) | eq64(win & 0xffffff, 0x2f2e2e);
    if (odd) {
        *flags |= JB_F_NONCANON;
        return c->file_tables ? JB_FA_ALL : m;
    }
    if (!c->file_tables)
        return m;
    struct jb_hkey k = {};
    k.gen = gen;
    k.hash = full;
    u32 *v = file_exact.lookup(&k);
    if (v)
        m |= *v;
    k.hash = base;
    v = file_base.lookup(&k);
    if (v)
        m |= *v;
    pk->prefixlen = 8 * (1 + JB_PATH_MAX);
    pk->gen = gen;
    v = file_prefix.lookup(pk);
    if (v)
        m |= *v;
    return m;
}

/* Read a user path and decide; on a pass, stash the record for the syscall exit.
 * slot: 0 or 1 (two-path syscalls). */
static __always_inline int file_enter(const char *upath, int dfd, u32 actions, u32 slot)
{
    u32 gen = 0;
    struct jb_cfg *c = live_cfg(&gen);
    if (!c || (!c->file_tables && !c->file_any))
        return 0;
    u32 zero = 0;
    struct jb_file_event *ev = scratch_file.lookup(&zero);
    if (!ev)
        return 0;
    stat_inc(JB_S_FILE, JB_STAT_SEEN);
    int len = bpf_probe_read_user_str(ev->pk.path, sizeof(ev->pk.path), upath);
    if (len <= 0)
        return 0;
    u32 flags = 0;
    u32 m = path_mask(&ev->pk, len, c, gen, &flags);
    u32 track = (actions & (1 << JB_FA_OPEN)) && (m & JB_FA_FD_MASK);
    if (!(m & actions) && !track)
        return 0;
    if (!(m & actions))
        flags |= JB_F_SILENT;
    fill_hdr(&ev->h, JB_EV_FILE);
    ev->actions = actions;
    ev->flags = flags;
    ev->dfd = dfd;
    ev->ret = 0;
    ev->mask = m;
    ev->file_id = 0;
    u64 key = (bpf_get_current_pid_tgid() << 1) | slot;
    file_stash.update(&key, ev);
    return 0;
}

static __always_inline int file_exit(long ret)
{
    u64 key = bpf_get_current_pid_tgid() << 1;
#pragma unroll
    for (int slot = 0; slot < 2; slot++) {
        u64 k = key | slot;
        struct jb_file_event *ev = file_stash.lookup(&k);
        if (!ev)
            continue;
        if (ret >= 0) {
            ev->ret = ret;
            if ((ev->actions & (1 << JB_FA_OPEN)) && (ev->mask & JB_FA_FD_MASK)) {
                struct jb_fd_key fk = {.tgid = ev->h.tgid, .fd = ret};
                struct jb_fd_val fv = {};
                u32 z = 0;
                u64 *id = file_ids.lookup(&z);
                if (id) {
                    *id += 1;
                    fv.file_id = (*id << 8) | bpf_get_smp_processor_id();
                }
                fv.mask = ev->mask;
                fv.kind = JB_FD_FILE;
                fds.update(&fk, &fv);
                ev->file_id = fv.file_id;
            }
            emit(ev, sizeof(*ev), JB_S_FILE);
        }
        file_stash.delete(&k);
    }
    return 0;
}

static __always_inline u32 open_actions(u64 flags)
{
    u32 a = 1 << JB_FA_OPEN;
    if (flags & O_CREAT)
        a |= 1 << JB_FA_CREATE;
    if (flags & O_TRUNC)
        a |= 1 << JB_FA_TRUNCATE;
    if (flags & (O_WRONLY | O_RDWR))
        a |= 1 << JB_FA_WRITE;
    return a;
}

TRACEPOINT_PROBE(syscalls, sys_enter_openat)
{
    return file_enter(args->filename, args->dfd, open_actions(args->flags), 0);
}

TRACEPOINT_PROBE(syscalls, sys_enter_openat2)
{
    u64 flags = 0;
    bpf_probe_read_user(&flags, sizeof(flags), args->how);
    return file_enter(args->filename, args->dfd, open_actions(flags), 0);
}

TRACEPOINT_PROBE(syscalls, sys_enter_open)
{
    return file_enter(args->filename, JB_AT_FDCWD, open_actions(args->flags), 0);
}

TRACEPOINT_PROBE(syscalls, sys_enter_creat)
{
    return file_enter(args->pathname, JB_AT_FDCWD, open_actions(O_CREAT | O_WRONLY | O_TRUNC), 0);
}

TRACEPOINT_PROBE(syscalls, sys_enter_unlinkat)
{
    return file_enter(args->pathname, args->dfd, 1 << JB_FA_UNLINK, 0);
}

TRACEPOINT_PROBE(syscalls, sys_enter_unlink)
{
    return file_enter(args->pathname, JB_AT_FDCWD, 1 << JB_FA_UNLINK, 0);
}

TRACEPOINT_PROBE(syscalls, sys_enter_rename)
{
    file_enter(args->oldname, JB_AT_FDCWD, 1 << JB_FA_RENAME, 0);
    return file_enter(args->newname, JB_AT_FDCWD, 1 << JB_FA_RENAME, 1);
}

TRACEPOINT_PROBE(syscalls, sys_enter_renameat)
{
    file_enter(args->oldname, args->olddfd, 1 << JB_FA_RENAME, 0);
    return file_enter(args->newname, args->newdfd, 1 << JB_FA_RENAME, 1);
}

TRACEPOINT_PROBE(syscalls, sys_enter_renameat2)
{
    file_enter(args->oldname, args->olddfd, 1 << JB_FA_RENAME, 0);
    return file_enter(args->newname, args->newdfd, 1 << JB_FA_RENAME, 1);
}

TRACEPOINT_PROBE(syscalls, sys_enter_link)
{
    file_enter(args->oldname, JB_AT_FDCWD, 1 << JB_FA_LINK, 0);
    return file_enter(args->newname, JB_AT_FDCWD, 1 << JB_FA_LINK | 1 << JB_FA_CREATE, 1);
}

TRACEPOINT_PROBE(syscalls, sys_enter_linkat)
{
    file_enter(args->oldname, args->olddfd, 1 << JB_FA_LINK, 0);
    return file_enter(args->newname, args->newdfd, 1 << JB_FA_LINK | 1 << JB_FA_CREATE, 1);
}

TRACEPOINT_PROBE(syscalls, sys_enter_truncate)
{
    return file_enter(args->path, JB_AT_FDCWD, 1 << JB_FA_TRUNCATE, 0);
}

/* cwd tracking for relative paths: chdir/fchdir records (rare) keep userspace's per-process
 * cwd current even after the process is gone. */
static __always_inline int chdir_enter(const char *upath, int fd)
{
    u32 gen = 0;
    if (!live_cfg(&gen))
        return 0;
    u32 zero = 0;
    struct jb_file_event *ev = scratch_file.lookup(&zero);
    if (!ev)
        return 0;
    ev->pk.path[0] = 0;
    if (upath && bpf_probe_read_user_str(ev->pk.path, sizeof(ev->pk.path), upath) <= 0)
        return 0;
    fill_hdr(&ev->h, JB_EV_FILE);
    ev->actions = 0;
    ev->flags = JB_F_CHDIR | JB_F_SILENT;
    ev->dfd = fd;
    ev->ret = 0;
    ev->mask = 0;
    u64 key = bpf_get_current_pid_tgid() << 1;
    file_stash.update(&key, ev);
    return 0;
}

TRACEPOINT_PROBE(syscalls, sys_enter_chdir) { return chdir_enter(args->filename, JB_AT_FDCWD); }
TRACEPOINT_PROBE(syscalls, sys_enter_fchdir) { return chdir_enter(0, args->fd); }

#define FILE_EXIT(sc) \
    TRACEPOINT_PROBE(syscalls, sys_exit_##sc) { return file_exit(args->ret); }
FILE_EXIT(openat)
FILE_EXIT(openat2)
FILE_EXIT(open)
FILE_EXIT(creat)
FILE_EXIT(unlinkat)
FILE_EXIT(unlink)
FILE_EXIT(rename)
FILE_EXIT(renameat)
FILE_EXIT(renameat2)
FILE_EXIT(link)
FILE_EXIT(linkat)
FILE_EXIT(truncate)
FILE_EXIT(chdir)
FILE_EXIT(fchdir)

/* ---- descriptors of watched files: one lookup for everything else ---- */
static __always_inline int fd_action(s64 fd, u32 action)
{
    struct jb_fd_key fk = {.tgid = bpf_get_current_pid_tgid() >> 32, .fd = fd};
    struct jb_fd_val *fv = fds.lookup(&fk);
    if (!fv || fv->kind != JB_FD_FILE)
        return 0;
    u32 bit = 1 << action;
    if (action == JB_FA_CLOSE) {
        u32 send = fv->mask & bit;
        struct jb_fd_val copy = *fv;
        fds.delete(&fk);
        if (!send)
            return 0;
        fv = &copy;
    } else if (!(fv->mask & bit) || (fv->seen & bit)) {
        return 0; /* not watched, or already reported for this descriptor */
    } else {
        fv->seen |= bit;
    }
    struct jb_fdio_event ev = {};
    fill_hdr(&ev.h, JB_EV_FDIO);
    ev.actions = bit;
    ev.fd = fd;
    ev.file_id = fv->file_id;
    stat_inc(JB_S_FDIO, JB_STAT_SEEN);
    emit(&ev, sizeof(ev), JB_S_FDIO);
    return 0;
}

TRACEPOINT_PROBE(syscalls, sys_enter_read) { return fd_action(args->fd, JB_FA_READ); }
TRACEPOINT_PROBE(syscalls, sys_enter_pread64) { return fd_action(args->fd, JB_FA_READ); }
TRACEPOINT_PROBE(syscalls, sys_enter_readv) { return fd_action(args->fd, JB_FA_READ); }
TRACEPOINT_PROBE(syscalls, sys_enter_write) { return fd_action(args->fd, JB_FA_WRITE); }
TRACEPOINT_PROBE(syscalls, sys_enter_pwrite64) { return fd_action(args->fd, JB_FA_WRITE); }
TRACEPOINT_PROBE(syscalls, sys_enter_writev) { return fd_action(args->fd, JB_FA_WRITE); }
TRACEPOINT_PROBE(syscalls, sys_enter_mmap) { return fd_action((s32)args->fd, JB_FA_MMAP); }
TRACEPOINT_PROBE(syscalls, sys_enter_lseek) { return fd_action(args->fd, JB_FA_LLSEEK); }
TRACEPOINT_PROBE(syscalls, sys_enter_fsync) { return fd_action(args->fd, JB_FA_FSYNC); }
TRACEPOINT_PROBE(syscalls, sys_enter_fdatasync) { return fd_action(args->fd, JB_FA_FSYNC); }
TRACEPOINT_PROBE(syscalls, sys_enter_flock) { return fd_action(args->fd, JB_FA_FLOCK); }
TRACEPOINT_PROBE(syscalls, sys_enter_ftruncate) { return fd_action(args->fd, JB_FA_TRUNCATE); }

/* Descriptors copied by dup2/dup3/dup (shell redirections) stay tracked. */
static __always_inline int fd_copy(s64 oldfd, s64 newfd)
{
    u32 tgid = bpf_get_current_pid_tgid() >> 32;
    struct jb_fd_key fk = {.tgid = tgid, .fd = oldfd};
    struct jb_fd_val *fv = fds.lookup(&fk);
    struct jb_fd_key nk = {.tgid = tgid, .fd = newfd};
    if (!fv) {
        fds.delete(&nk); /* newfd is closed by dup2 and now names an untracked file */
        return 0;
    }
    struct jb_fd_val copy = *fv;
    copy.seen = 0;
    fds.update(&nk, &copy);
    return 0;
}

TRACEPOINT_PROBE(syscalls, sys_enter_dup2)
{
    if (args->oldfd == args->newfd)
        return 0;
    return fd_copy(args->oldfd, args->newfd);
}

TRACEPOINT_PROBE(syscalls, sys_enter_dup3) { return fd_copy(args->oldfd, args->newfd); }

BPF_TABLE("lru_hash", u32, s32, dup_stash, 1024);

TRACEPOINT_PROBE(syscalls, sys_enter_dup)
{
    struct jb_fd_key fk = {.tgid = bpf_get_current_pid_tgid() >> 32, .fd = args->fildes};
    if (!fds.lookup(&fk))
        return 0;
    u32 tid = (u32)bpf_get_current_pid_tgid();
    s32 fd = args->fildes;
    dup_stash.update(&tid, &fd);
    return 0;
}

TRACEPOINT_PROBE(syscalls, sys_exit_dup)
{
    u32 tid = (u32)bpf_get_current_pid_tgid();
    s32 *old = dup_stash.lookup(&tid);
    if (!old)
        return 0;
    s32 o = *old;
    dup_stash.delete(&tid);
    if (args->ret >= 0)
        fd_copy(o, args->ret);
    return 0;
}

TRACEPOINT_PROBE(syscalls, sys_enter_close)
{
    struct jb_fd_key fk = {.tgid = bpf_get_current_pid_tgid() >> 32, .fd = args->fd};
    struct jb_fd_val *fv = fds.lookup(&fk);
    if (!fv)
        return 0;
    if (fv->kind == JB_FD_DNS) {
        fds.delete(&fk);
        return 0;
    }
    return fd_action(args->fd, JB_FA_CLOSE);
}


/* ============================================================================ */
/* Process sensors (included by jibril.bpf.c): exec with argv, fork/exit for the tree.
 * Exec, fork and exit records are always sent (low rate): userspace keeps the process
 * table from them; exec records carry JB_F_PASSED when the exec passes the file filter. */

static __always_inline int exec_enter(const char *const *argv)
{
    u32 gen = 0;
    if (!live_cfg(&gen))
        return 0;
    u32 zero = 0;
    struct jb_exec_event *ev = scratch_exec.lookup(&zero);
    if (!ev)
        return 0;
    u32 off = 0, argc = 0, flags = 0;
#pragma unroll
    for (int i = 0; i < JB_MAX_ARGS; i++) {
        const char *p = 0;
        if (bpf_probe_read_user(&p, sizeof(p), &argv[i]) || !p)
            break;
        if (off > JB_ARGS_SIZE - JB_ARG_MAX) {
            flags |= JB_F_ARGS_TRUNC;
            break;
        }
        int n = bpf_probe_read_user_str(&ev->args[off & (JB_ARGS_SIZE - 1)], JB_ARG_MAX, p);
        if (n <= 0)
            break;
        off += n;
        argc++;
    }
    ev->args_len = off;
    ev->argc = argc;
    ev->flags = flags;
    u32 tid = (u32)bpf_get_current_pid_tgid();
    exec_stash.update(&tid, ev);
    return 0;
}

TRACEPOINT_PROBE(syscalls, sys_enter_execve) { return exec_enter(args->argv); }
TRACEPOINT_PROBE(syscalls, sys_enter_execveat) { return exec_enter(args->argv); }

TRACEPOINT_PROBE(syscalls, sys_exit_execve)
{
    u32 tid = (u32)bpf_get_current_pid_tgid();
    exec_stash.delete(&tid); /* failed exec (a successful one never returns here with it) */
    return 0;
}

TRACEPOINT_PROBE(syscalls, sys_exit_execveat)
{
    u32 tid = (u32)bpf_get_current_pid_tgid();
    exec_stash.delete(&tid);
    return 0;
}

TRACEPOINT_PROBE(sched, sched_process_exec)
{
    u32 gen = 0;
    struct jb_cfg *c = live_cfg(&gen);
    if (!c)
        return 0;
    u32 old = args->old_pid;
    struct jb_exec_event *ev = exec_stash.lookup(&old);
    if (!ev) {
        u32 zero = 0;
        ev = scratch_exec.lookup(&zero);
        if (!ev)
            return 0;
        ev->args_len = 0;
        ev->argc = 0;
        ev->flags = 0;
    }
    stat_inc(JB_S_EXEC, JB_STAT_SEEN);
    fill_hdr(&ev->h, JB_EV_EXEC);
    ev->ppid_hint = old;
    unsigned short off = args->data_loc_filename & 0xFFFF;
    int len = bpf_probe_read_kernel_str(ev->pk.path, sizeof(ev->pk.path), (char *)args + off);
    u32 flags = ev->flags;
    u32 m = len > 0 ? path_mask(&ev->pk, len, c, gen, &flags) : c->file_any;
    if (c->exec_any || (m & (1 << JB_FA_EXECVE)))
        flags |= JB_F_PASSED;
    ev->flags = flags;
    emit(ev, sizeof(*ev), JB_S_EXEC);
    exec_stash.delete(&old);
    return 0;
}

static __always_inline int mark_clone(u64 flags)
{
    if (flags & CLONE_THREAD) {
        u32 tid = (u32)bpf_get_current_pid_tgid();
        u8 one = 1;
        clone_threads.update(&tid, &one);
    }
    return 0;
}

TRACEPOINT_PROBE(syscalls, sys_enter_clone) { return mark_clone(args->clone_flags); }

TRACEPOINT_PROBE(syscalls, sys_enter_clone3)
{
    u64 flags = 0;
    bpf_probe_read_user(&flags, sizeof(flags), args->uargs);
    return mark_clone(flags);
}

TRACEPOINT_PROBE(syscalls, sys_exit_clone)
{
    u32 tid = (u32)bpf_get_current_pid_tgid();
    clone_threads.delete(&tid);
    return 0;
}

TRACEPOINT_PROBE(syscalls, sys_exit_clone3)
{
    u32 tid = (u32)bpf_get_current_pid_tgid();
    clone_threads.delete(&tid);
    return 0;
}

TRACEPOINT_PROBE(sched, sched_process_fork)
{
    u32 tid = (u32)bpf_get_current_pid_tgid();
    if (clone_threads.lookup(&tid))
        return 0; /* a new thread, not a process */
    struct jb_proc_event ev = {};
    fill_hdr(&ev.h, JB_EV_FORK);
    ev.child = args->child_pid;
    stat_inc(JB_S_PROC, JB_STAT_SEEN);
    emit(&ev, sizeof(ev), JB_S_PROC);
    return 0;
}

TRACEPOINT_PROBE(syscalls, sys_enter_exit_group)
{
    u32 tgid = bpf_get_current_pid_tgid() >> 32;
    s32 code = args->error_code;
    exit_codes.update(&tgid, &code);
    return 0;
}

TRACEPOINT_PROBE(sched, sched_process_exit)
{
    if (!args->group_dead)
        return 0;
    struct jb_proc_event ev = {};
    fill_hdr(&ev.h, JB_EV_EXIT);
    u32 tgid = ev.h.tgid;
    s32 *code = exit_codes.lookup(&tgid);
    ev.code = code ? *code : -1;
    exit_codes.delete(&tgid);
    stat_inc(JB_S_PROC, JB_STAT_SEEN);
    emit(&ev, sizeof(ev), JB_S_PROC);
    return 0;
}

/* ============================================================================ */
/* Network sensors (included by jibril.bpf.c): connect, TCP state changes, DNS answers.
 *
 * Outgoing: sys_enter/exit_connect gives the process, the remote address and port
 * (flow "started"); the SYN_SENT transition of sock:inet_sock_set_state (process context)
 * records the socket owner, and SYN_SENT->ESTABLISHED (softirq) gives the full tuple.
 * Incoming: listen() (CLOSE->LISTEN, process context) records the listener's owner per
 * port; SYN_RECV->ESTABLISHED (softirq) emits the accepted flow for that owner.
 * Ends: FIN_WAIT1 (local closed first: terminator), CLOSE_WAIT or a reset (terminated). */

static __always_inline void cidr_addr(struct jb_cidr_key *k, u16 family, const u8 *a)
{
    __builtin_memset(k->addr, 0, sizeof(k->addr));
    if (family == AF_INET) {
        k->family = 4;
        __builtin_memcpy(k->addr, a, 4);
        return;
    }
    u32 w0 = 0, w1 = 0, w2 = 0;
    __builtin_memcpy(&w0, a, 4);
    __builtin_memcpy(&w1, a + 4, 4);
    __builtin_memcpy(&w2, a + 8, 4);
    if (w0 == 0 && w1 == 0 && w2 == 0xffff0000) { /* ::ffff:a.b.c.d, little endian */
        k->family = 4;
        __builtin_memcpy(k->addr, a + 12, 4);
        return;
    }
    k->family = 6;
    __builtin_memcpy(k->addr, a, 16);
}

/* Mirrors jibril_rules.runtime.kernel_model.KernelModel.passes_flow. */
static __always_inline int net_pass(struct jb_cfg *c, u32 gen, struct jb_flow_event *ev)
{
    if (c->net_any)
        return 1;
    if (!c->net_tables)
        return 0;
    struct jb_port_key pk = {.port = ev->rport, .gen = gen, .remote = 1};
    if (net_ports.lookup(&pk))
        return 1;
    pk.port = ev->lport;
    pk.remote = 0;
    if (net_ports.lookup(&pk))
        return 1;
    struct jb_cidr_key k = {};
    k.prefixlen = 32 + 128;
    k.gen = gen;
    cidr_addr(&k, ev->family, ev->raddr);
    if (net_rcidr.lookup(&k))
        return 1;
    cidr_addr(&k, ev->family, ev->laddr);
    if (net_lcidr.lookup(&k))
        return 1;
    return 0;
}

TRACEPOINT_PROBE(syscalls, sys_enter_connect)
{
    u32 gen = 0;
    if (!live_cfg(&gen))
        return 0;
    u8 sa[8] = {};
    if (bpf_probe_read_user(sa, sizeof(sa), args->uservaddr))
        return 0;
    u16 family = sa[0] | (sa[1] << 8);
    if (family != AF_INET && family != AF_INET6)
        return 0;
    struct jb_flow_event ev = {};
    ev.family = family;
    ev.proto = IPPROTO_UDP; /* becomes TCP when the SYN_SENT transition is seen */
    ev.rport = (sa[2] << 8) | sa[3];
    ev._pad = args->fd;
    if (family == AF_INET)
        __builtin_memcpy(ev.raddr, sa + 4, 4);
    else
        bpf_probe_read_user(ev.raddr, 16, (u8 *)args->uservaddr + 8);
    u32 tid = (u32)bpf_get_current_pid_tgid();
    conn_stash.update(&tid, &ev);
    return 0;
}

TRACEPOINT_PROBE(syscalls, sys_exit_connect)
{
    u32 tid = (u32)bpf_get_current_pid_tgid();
    struct jb_flow_event *st = conn_stash.lookup(&tid);
    if (!st)
        return 0;
    struct jb_flow_event ev = *st;
    conn_stash.delete(&tid);
    long ret = args->ret;
    if (ret != 0 && ret != -EINPROGRESS)
        return 0;
    u32 gen = 0;
    struct jb_cfg *c = live_cfg(&gen);
    if (!c)
        return 0;
    fill_hdr(&ev.h, JB_EV_FLOW);
    if (ev.proto == IPPROTO_UDP && ev.rport == 53) {
        struct jb_fd_key fk = {.tgid = ev.h.tgid, .fd = ev._pad};
        struct jb_fd_val fv = {.kind = JB_FD_DNS};
        fds.update(&fk, &fv);
    }
    ev.flags = (1 << JB_FF_CREATED) | (1 << JB_FF_EGRESS) | (1 << JB_FF_OUTGOING) |
               (1 << JB_FF_STARTED);
    ev._pad = 0;
    stat_inc(JB_S_NET, JB_STAT_SEEN);
    if (net_pass(c, gen, &ev))
        emit(&ev, sizeof(ev), JB_S_NET);
    return 0;
}

static __always_inline void owner_current(struct jb_owner *o, u32 flags)
{
    u64 pt = bpf_get_current_pid_tgid();
    o->tgid = pt >> 32;
    o->uid = (u32)bpf_get_current_uid_gid();
    bpf_get_current_comm(&o->comm, sizeof(o->comm));
    o->flags = flags;
    o->ended = 0;
}

/* listen() sets TCP_LISTEN without the tracepoint, so the listener's owner is learned at
 * bind(): incoming flows on that port are attributed to the binding process. */
TRACEPOINT_PROBE(syscalls, sys_enter_bind)
{
    u32 gen = 0;
    if (!live_cfg(&gen))
        return 0;
    u8 sa[4] = {};
    if (bpf_probe_read_user(sa, sizeof(sa), args->umyaddr))
        return 0;
    u16 family = sa[0] | (sa[1] << 8);
    u16 port = (sa[2] << 8) | sa[3];
    if ((family != AF_INET && family != AF_INET6) || port == 0)
        return 0;
    struct jb_listen_key lk = {.family = family, .port = port};
    struct jb_owner o = {};
    owner_current(&o, (1 << JB_FF_INCOMING) | (1 << JB_FF_INGRESS));
    listen_owner.update(&lk, &o);
    return 0;
}

TRACEPOINT_PROBE(sock, inet_sock_set_state)
{
    if (args->protocol != IPPROTO_TCP)
        return 0;
    u32 zero = 0;
    struct jb_ctl *ct = ctl.lookup(&zero);
    if (!ct)
        return 0;
    u32 gen = ct->gen & 1;
    struct jb_cfg *c = cfg.lookup(&gen);
    if (!c)
        return 0;
    u64 sk = (u64)args->skaddr;
    int ns = args->newstate, os = args->oldstate;
    u16 family = args->family;
    struct jb_owner tmp = {};
    if (ns == TCP_SYN_SENT) { /* in connect(): current owns the socket */
        owner_current(&tmp, (1 << JB_FF_OUTGOING) | (1 << JB_FF_EGRESS));
        sk_owner.update(&sk, &tmp);
        u32 tid = (u32)bpf_get_current_pid_tgid();
        struct jb_flow_event *st = conn_stash.lookup(&tid);
        if (st)
            st->proto = IPPROTO_TCP;
        return 0;
    }
    struct jb_listen_key lk = {.family = family, .port = args->sport};
    if (ns == TCP_LISTEN) {
        owner_current(&tmp, (1 << JB_FF_INCOMING) | (1 << JB_FF_INGRESS));
        listen_owner.update(&lk, &tmp);
        return 0;
    }
    if (os == TCP_LISTEN) { /* LISTEN->SYN_RECV is a new child socket; ->CLOSE ends it */
        if (ns == TCP_CLOSE)
            listen_owner.delete(&lk);
        return 0;
    }
    struct jb_owner *o = 0;
    u32 flags = (1 << JB_FF_INGRESS) | (1 << JB_FF_EGRESS) | (1 << JB_FF_STARTED);
    if (ns == TCP_ESTABLISHED && os == TCP_SYN_SENT) {
        o = sk_owner.lookup(&sk);
        flags |= 1 << JB_FF_ONGOING;
    } else if (ns == TCP_ESTABLISHED && os == TCP_SYN_RECV) {
        struct jb_owner *lo = listen_owner.lookup(&lk);
        if (!lo)
            return 0;
        tmp = *lo;
        sk_owner.update(&sk, &tmp);
        o = sk_owner.lookup(&sk);
        flags |= 1 << JB_FF_ONGOING;
    } else if (ns == TCP_FIN_WAIT1 || ns == TCP_CLOSE_WAIT || ns == TCP_CLOSE) {
        o = sk_owner.lookup(&sk);
        if (!o)
            return 0;
        if (o->ended || (ns == TCP_CLOSE && os != TCP_ESTABLISHED)) {
            if (ns == TCP_CLOSE)
                sk_owner.delete(&sk);
            return 0;
        }
        o->ended = 1;
        flags |= (1 << JB_FF_ENDED) |
                 (ns == TCP_FIN_WAIT1 ? (1 << JB_FF_TERMINATOR) : (1 << JB_FF_TERMINATED));
    } else {
        return 0;
    }
    if (!o || o->tgid == ct->self_tgid)
        return 0;
    struct jb_flow_event ev = {};
    ev.h.type = JB_EV_FLOW;
    ev.h.tgid = o->tgid;
    ev.h.uid = o->uid;
    ev.h.ts = bpf_ktime_get_boot_ns();
    __builtin_memcpy(ev.h.comm, o->comm, sizeof(ev.h.comm));
    ev.flags = flags | o->flags;
    ev.family = family;
    ev.proto = IPPROTO_TCP;
    ev.lport = args->sport;
    ev.rport = args->dport;
    if (family == AF_INET) {
        __builtin_memcpy(ev.laddr, args->saddr, 4);
        __builtin_memcpy(ev.raddr, args->daddr, 4);
    } else {
        __builtin_memcpy(ev.laddr, args->saddr_v6, 16);
        __builtin_memcpy(ev.raddr, args->daddr_v6, 16);
    }
    if (ns == TCP_CLOSE)
        sk_owner.delete(&sk);
    stat_inc(JB_S_NET, JB_STAT_SEEN);
    if (net_pass(c, gen, &ev))
        emit(&ev, sizeof(ev), JB_S_NET);
    return 0;
}

/* ---- DNS answers: payloads received on UDP sockets connected to port 53, or from a
 * sender whose port is 53; parsed in userspace (flow.remote.names). ---- */
static __always_inline int recv_enter(s64 fd, u64 buf, u64 addr)
{
    u32 gen = 0;
    if (!live_cfg(&gen))
        return 0;
    struct jb_fd_key fk = {.tgid = bpf_get_current_pid_tgid() >> 32, .fd = fd};
    struct jb_fd_val *fv = fds.lookup(&fk);
    u32 dns = fv && fv->kind == JB_FD_DNS;
    if (!dns && !addr)
        return 0;
    struct jb_recv_stash st = {.buf = buf, .addr = addr, .fd = fd, .dns = dns};
    u32 tid = (u32)bpf_get_current_pid_tgid();
    recv_stash.update(&tid, &st);
    return 0;
}

static __always_inline int recv_exit(long ret)
{
    u32 tid = (u32)bpf_get_current_pid_tgid();
    struct jb_recv_stash *sp = recv_stash.lookup(&tid);
    if (!sp)
        return 0;
    struct jb_recv_stash st = *sp;
    recv_stash.delete(&tid);
    if (ret < 12)
        return 0;
    if (!st.dns) {
        u8 sa[4] = {};
        if (bpf_probe_read_user(sa, sizeof(sa), (void *)st.addr))
            return 0;
        u16 family = sa[0] | (sa[1] << 8);
        if ((family != AF_INET && family != AF_INET6) || sa[2] != 0 || sa[3] != 53)
            return 0;
    }
    u32 zero = 0;
    struct jb_dns_event *ev = scratch_dns.lookup(&zero);
    if (!ev)
        return 0;
    stat_inc(JB_S_DNS, JB_STAT_SEEN);
    fill_hdr(&ev->h, JB_EV_DNS);
    u64 n = ret;
    if (n > JB_DNS_MAX - 1)
        n = JB_DNS_MAX - 1;
    asm volatile("" : "+r"(n));
    n &= JB_DNS_MAX - 1;
    ev->len = n;
    if (bpf_probe_read_user(ev->data, n, (void *)st.buf))
        return 0;
    emit(ev, sizeof(*ev), JB_S_DNS);
    return 0;
}

TRACEPOINT_PROBE(syscalls, sys_enter_recvfrom)
{
    return recv_enter(args->fd, (u64)args->ubuf, (u64)args->addr);
}

TRACEPOINT_PROBE(syscalls, sys_exit_recvfrom) { return recv_exit(args->ret); }

TRACEPOINT_PROBE(syscalls, sys_enter_recvmsg)
{
    u64 hdr[3] = {}; /* msg_name, msg_namelen, msg_iov */
    if (bpf_probe_read_user(hdr, sizeof(hdr), args->msg))
        return 0;
    u64 base = 0;
    if (hdr[2])
        bpf_probe_read_user(&base, sizeof(base), (void *)hdr[2]);
    return recv_enter(args->fd, base, hdr[0]);
}

TRACEPOINT_PROBE(syscalls, sys_exit_recvmsg) { return recv_exit(args->ret); }
