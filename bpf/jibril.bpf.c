/* jibril-rules sensor, kernel side: process lifecycle from sched raw tracepoints, inline
 * prevention at exec, and the raw_syscalls fallback for file actions marks cannot see.
 *
 * No syscalls:* tracepoint: those put every syscall of every task on the tracing slow path.
 *  - raw_tracepoint sched_process_exec/fork/exit: always attached (the process tree).
 *  - jb_sys_exit / jb_sys_enter on raw_syscalls: attached by userspace only when the bundle has
 *    a recipe that needs them (sensor/fallback.py); one program per direction, dispatching on
 *    the syscall number.
 * Kernel structs are never dereferenced: rd() reads u64 words at OFF_* offsets computed from
 * the running kernel's BTF (sensor/btf.py) and passed as -D flags.
 * Tables are double-buffered like the previous design: the low bit of every 8-byte hash key is
 * the generation, ctl[0].gen names the live one.
 */
#include <uapi/linux/ptrace.h>
#include "jibril_events.h"

#ifndef OFF_FILE_F_PATH_DENTRY
#error "BTF offsets missing: build with jibril_rules.sensor.btf.cflags()"
#endif
#ifndef JB_MAX_EXACT
#define JB_MAX_EXACT 131072
#endif
#ifndef JB_MAX_PREFIX
#define JB_MAX_PREFIX 32768
#endif
#ifndef JB_MAX_BASE
#define JB_MAX_BASE 32768
#endif
#ifndef JB_MAX_DCACHE
#define JB_MAX_DCACHE 65536
#endif
#ifndef JB_MAX_RECIPES
#define JB_MAX_RECIPES 16384
#endif
#ifndef JB_RB_PAGES
#define JB_RB_PAGES 4096
#endif

#define O_WRONLY 01
#define O_RDWR 02
#define O_CREAT 0100
#define O_TRUNC 01000
#define FASYNC 020000
#define F_SETFL 4
#define MAP_ANONYMOUS 0x20

BPF_RINGBUF_OUTPUT(events, JB_RB_PAGES);
BPF_ARRAY(ctl, struct jb_ctl, 1);
BPF_ARRAY(cfg2, struct jb_cfg2, 2);
BPF_PERCPU_ARRAY(stats, u64, JB_NSENSORS * JB_NSTATS);
BPF_HASH(fexact, u64, u32, JB_MAX_EXACT);
BPF_HASH(fbase, u64, u32, JB_MAX_BASE);
BPF_LPM_TRIE(fprefix, struct jb_pathkey, u32, JB_MAX_PREFIX);
BPF_HASH(pexact, u64, struct jb_prevent, 8192);
BPF_HASH(pbase, u64, struct jb_prevent, 8192);
BPF_ARRAY(recipe_mode, u32, 2 * JB_MAX_RECIPES); /* [gen * JB_MAX_RECIPES + recipe] */
BPF_ARRAY(epoch, u32, 1);
BPF_TABLE("lru_hash", u64, struct jb_dval, dcache, JB_MAX_DCACHE);
BPF_TABLE("lru_hash", u64, struct jb_fseen, fseen, 65536);

struct jb_walk {
    u64 name[32];
    char buf[512];
};
BPF_PERCPU_ARRAY(scratch_walk, struct jb_walk, 1);
BPF_PERCPU_ARRAY(scratch_exec2, struct jb_exec2_event, 1);
BPF_PERCPU_ARRAY(scratch_obj, struct jb_obj_event, 1);
BPF_PERCPU_ARRAY(scratch_file, struct jb_file_event, 1);

/* Tail calls keep each program's verification small: the path walk and the hashing loop
 * do not fit in one program. Filled by userspace before anything is attached. */
#define JB_TC_EXEC 0
#define JB_TC_OBJ 1
#define JB_TC_PATH 2
#define JB_TC_CWD 3
BPF_PROG_ARRAY(progs, 4);
struct jb_tc { /* state handed to the tail-called program (per CPU, same task) */
    u64 file;
    u64 dentry;
    u64 mnt;
    u64 hash_len;
    u32 tag;
    u32 actions;
    u32 flags;
    s32 fd;
    u32 is_open;
    u32 gen;
    u32 slot;
    u32 _pad;
};
BPF_PERCPU_ARRAY(tc_state, struct jb_tc, 1);

static __always_inline u64 rd(u64 p)
{
    u64 v = 0;
    bpf_probe_read_kernel(&v, sizeof(v), (void *)p);
    return v;
}

static __always_inline u32 rd32(u64 p)
{
    u32 v = 0;
    bpf_probe_read_kernel(&v, sizeof(v), (void *)p);
    return v;
}

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

/* The live config, or NULL when current is the agent itself. */
static __always_inline struct jb_cfg2 *live_cfg(u32 *gen)
{
    u32 zero = 0;
    struct jb_ctl *c = ctl.lookup(&zero);
    if (!c)
        return 0;
    if (c->self_tgid == (u32)(bpf_get_current_pid_tgid() >> 32))
        return 0;
    u32 g = c->gen & 1;
    *gen = g;
    return cfg2.lookup(&g);
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

/* x & m that the compiler cannot drop (the verifier needs the bound on the register). */
static __always_inline u32 bnd(u32 x, u32 m)
{
    asm volatile("" : "+r"(x));
    return x & m;
}

static __always_inline u64 eq64(u64 a, u64 b)
{
    return ((a ^ b) - 1) >> 63;
}

/* x >> 63 that clang cannot turn into a comparison (BPF has no setcc: a comparison used as
 * a value becomes a branch, and branches in the walk loops explode the verifier's states). */
static __always_inline u64 msb(u64 x)
{
    asm volatile("%0 >>= 63" : "+r"(x));
    return x;
}

/* 1 when a == b for any 64-bit values (pointers included), without a branch. */
static __always_inline u64 eqp(u64 a, u64 b)
{
    u64 x = a ^ b;
    return 1 - msb(x | (0 - x));
}

static __always_inline u64 hkey(u64 hash, u32 gen)
{
    return (hash & ~1ULL) | gen;
}

/* Absolute path of (dentry, vfsmount) up to the root of the mount namespace, into out
 * (JB_PATH_MAX bytes). Returns the length with the NUL; sets JB_F_TRUNCATED when the path is
 * deeper than JB_DEPTH or longer than JB_PATH_MAX - 1. The loop bodies select with masks
 * instead of branching (bcc cannot relocate bpf_loop callbacks, and branches in bounded
 * loops multiply the verifier's states). */
static __always_inline int dpath(u64 dentry, u64 vfsmnt, char *out, u32 *flags)
{
    u32 z = 0;
    struct jb_walk *w = scratch_walk.lookup(&z);
    if (!w || !dentry || !vfsmnt)
        return 0;
    u64 mnt = vfsmnt - OFF_MOUNT_MNT;
    u64 n = 0, done = 0;
#pragma clang loop unroll(disable)
    for (int i = 0; i < JB_DEPTH + 7; i++) {
        u64 at_root = eqp(dentry, rd(vfsmnt + OFF_VFSMOUNT_MNT_ROOT));
        u64 pmnt = rd(mnt + OFF_MOUNT_MNT_PARENT);
        u64 mp = rd(mnt + OFF_MOUNT_MNT_MOUNTPOINT);
        u64 par = rd(dentry + OFF_DENTRY_D_PARENT);
        u64 top = at_root & (eqp(pmnt, mnt) | eqp(pmnt, 0));
        u64 fsroot = (1 - at_root) & (eqp(par, dentry) | eqp(par, 0));
        done |= top | fsroot;
        u64 go = 0 - (1 - done);        /* all ones while walking */
        u64 sel = (0 - at_root) & go;   /* all ones: cross into the parent mount */
        u64 up = go & ~sel;             /* all ones: step to d_parent */
        w->name[bnd(n, 31)] = rd(dentry + OFF_DENTRY_D_NAME_NAME);
        n += up & 1;
        dentry = (mp & sel) | (par & up) | (dentry & ~go);
        mnt = (pmnt & sel) | (mnt & ~sel);
        vfsmnt = mnt + OFF_MOUNT_MNT;
    }
    if (n > JB_DEPTH) {
        *flags |= JB_F_TRUNCATED;
        n = JB_DEPTH;
    }
    u64 off = 0, trunc = 0;
#pragma clang loop unroll(disable)
    for (int i = 0; i < JB_DEPTH; i++) {
        u64 valid = msb((u64)i - n); /* 1 while i < n */
        u32 j = (u32)(n - 1 - i);
        w->buf[bnd(off, 255)] = '/';
        u64 o1 = bnd(off + valid, 255);
        u64 src = w->name[bnd(j, 31)] & (0 - valid);
        long l = bpf_probe_read_kernel_str(&w->buf[o1], 256, (void *)src);
        u64 ok = 1 - msb((u64)(l - 2)); /* 1 when l >= 2 */
        off = o1 + ((u64)(l - 1) & (0 - ok));
        u64 over = msb((u64)(JB_PATH_MAX - 2 - off)); /* 1 when off > JB_PATH_MAX - 2 */
        trunc |= over;
        off = (off & (over - 1)) | ((JB_PATH_MAX - 1) & (0 - over));
    }
    if (trunc)
        *flags |= JB_F_TRUNCATED;
    if (off == 0) {
        w->buf[0] = '/';
        off = 1;
    }
    w->buf[bnd(off, 255)] = 0;
    bpf_probe_read_kernel(out, JB_PATH_MAX, w->buf);
    return off + 1;
}

/* The kernel filter (mirrors KernelModel.file_mask) for the path in pk of length len (with
 * the NUL); full/base receive the FNV-1a hashes of the path and its last component. */
static __always_inline u32 path_mask(struct jb_pathkey *pk, int len, struct jb_cfg2 *c, u32 gen,
                                     u32 *flags, u64 *full_out, u64 *base_out)
{
    u32 m = c->file_any;
    *full_out = 0;
    *base_out = 0;
    if (len <= 1)
        return m;
    if (pk->path[0] != '/') {
        *flags |= JB_F_RELATIVE;
        return c->file_tables ? JB_FA_ALL : m;
    }
    if (len >= JB_PATH_MAX || (*flags & JB_F_TRUNCATED)) {
        *flags |= JB_F_TRUNCATED;
        return c->file_tables ? JB_FA_ALL : m;
    }
    u64 full = JB_FNV_OFFSET, base = JB_FNV_OFFSET, odd = 0, win = 0;
    u32 n = len - 1;
#pragma clang loop unroll(disable)
    for (u32 i = 0; i < JB_PATH_MAX - 1; i++) {
        if (i >= n)
            break;
        u32 j = i;
        asm volatile("" : "+r"(j));
        if (j >= JB_PATH_MAX)
            break;
        u64 ch = (u8)pk->path[j];
        u64 slash = eq64(ch, '/');
        u64 keep = slash - 1;
        full = (full ^ ch) * JB_FNV_PRIME;
        base = (JB_FNV_OFFSET & ~keep) | (((base ^ ch) * JB_FNV_PRIME) & keep);
        win = ((win << 8) | ch) & 0xffffffff;
        odd |= eq64(win & 0xffff, 0x2f2f) | eq64(win & 0xffffff, 0x2f2e2f) |
               eq64(win, 0x2f2e2e2f);
    }
    odd |= eq64(win & 0xffff, 0x2f2e) | eq64(win & 0xffffff, 0x2f2e2e);
    *full_out = full;
    *base_out = base;
    if (odd) {
        *flags |= JB_F_NONCANON;
        return c->file_tables ? JB_FA_ALL : m;
    }
    if (!c->file_tables)
        return m;
    u64 k = hkey(full, gen);
    u32 *v = fexact.lookup(&k);
    if (v)
        m |= *v;
    k = hkey(base, gen);
    v = fbase.lookup(&k);
    if (v)
        m |= *v;
    pk->prefixlen = 8 * (1 + JB_PATH_MAX);
    pk->gen = gen;
    v = fprefix.lookup(pk);
    if (v)
        m |= *v;
    return m;
}

/* ============================================================================ */
/* Process lifecycle: sched raw tracepoints (auto-attached by bcc). */

/* exec, part 1 (attached by userspace after progs is filled): the new image's fields. */
int jb_exec(struct bpf_raw_tracepoint_args *ctx)
{
    u64 task = ctx->args[0];
    u32 old = (u32)ctx->args[1];
    u64 bprm = ctx->args[2];
    u32 gen = 0;
    struct jb_cfg2 *c = live_cfg(&gen);
    if (!c)
        return 0;
    u32 zero = 0;
    struct jb_exec2_event *ev = scratch_exec2.lookup(&zero);
    struct jb_tc *st = tc_state.lookup(&zero);
    if (!ev || !st)
        return 0;
    stat_inc(JB_S_EXEC, JB_STAT_SEEN);
    fill_hdr(&ev->h, JB_EV_EXEC2);
    ev->ppid_hint = old;
    ev->prevent = 0;
    u32 flags = 0;
    u64 file = rd(bprm + OFF_LINUX_BINPRM_FILE);
    u64 dentry = rd(file + OFF_FILE_F_PATH_DENTRY);
    st->slot = dpath(dentry, rd(file + OFF_FILE_F_PATH_MNT), ev->pk.path, &flags);
    st->gen = gen;
    u64 inode = rd(file + OFF_FILE_F_INODE);
    ev->exe_ino = rd(inode + OFF_INODE_I_INO);
    ev->exe_dev = rd32(rd(inode + OFF_INODE_I_SB) + OFF_SUPER_BLOCK_S_DEV);
    ev->ppid = rd32(rd(task + OFF_TASK_STRUCT_REAL_PARENT) + OFF_TASK_STRUCT_TGID);
    u64 mm = rd(task + OFF_TASK_STRUCT_MM);
    u64 as = rd(mm + OFF_MM_STRUCT_ARG_START), ae = rd(mm + OFF_MM_STRUCT_ARG_END);
    u64 n = ae > as ? ae - as : 0;
    if (n > JB_ARGS_SIZE - 1) {
        n = JB_ARGS_SIZE - 1;
        flags |= JB_F_ARGS_TRUNC;
    }
    asm volatile("" : "+r"(n));
    n &= JB_ARGS_SIZE - 1;
    ev->args_len = 0;
    if (n && bpf_probe_read_user(ev->args, n, (void *)as) == 0)
        ev->args_len = n;
    ev->flags = flags;
    progs.call(ctx, JB_TC_CWD);
    emit(ev, sizeof(*ev), JB_S_EXEC); /* only when the tail call failed: still an exec */
    return 0;
}

/* exec, part 2: the cwd (task->fs->pwd), same walk. */
int jb_exec_cwd(struct bpf_raw_tracepoint_args *ctx)
{
    u32 zero = 0;
    struct jb_exec2_event *ev = scratch_exec2.lookup(&zero);
    if (!ev)
        return 0;
    u64 fs = rd(ctx->args[0] + OFF_TASK_STRUCT_FS);
    u32 cflags = 0;
    ev->cwd[0] = 0;
    dpath(rd(fs + OFF_FS_STRUCT_PWD_DENTRY), rd(fs + OFF_FS_STRUCT_PWD_MNT), ev->cwd, &cflags);
    if (cflags & JB_F_TRUNCATED)
        ev->flags |= JB_F_CWD_TRUNC;
    progs.call(ctx, JB_TC_EXEC);
    emit(ev, sizeof(*ev), JB_S_EXEC);
    return 0;
}

/* exec, part 3: the file filter and prevention on the exe path. */
int jb_exec_filter(struct bpf_raw_tracepoint_args *ctx)
{
    u32 zero = 0;
    struct jb_exec2_event *ev = scratch_exec2.lookup(&zero);
    struct jb_tc *st = tc_state.lookup(&zero);
    if (!ev || !st)
        return 0;
    u32 gen = st->gen & 1;
    struct jb_cfg2 *c = cfg2.lookup(&gen);
    if (!c)
        return 0;
    u32 flags = ev->flags;
    u64 full = 0, base = 0;
    int len = st->slot;
    u32 m = len > 0 ? path_mask(&ev->pk, len, c, gen, &flags, &full, &base) : c->file_any;
    if (c->exec_any || (m & (1 << JB_FA_EXECVE)))
        flags |= JB_F_PASSED;
    if (c->prevent && full) {
        u64 k = hkey(full, gen);
        struct jb_prevent *p = pexact.lookup(&k);
        if (!p) {
            k = hkey(base, gen);
            p = pbase.lookup(&k);
        }
        if (p && p->action == JB_PREVENT_KILL) {
            u32 rid = p->recipe;
            u32 mi = gen * JB_MAX_RECIPES + (rid & (JB_MAX_RECIPES - 1));
            u32 *mode = recipe_mode.lookup(&mi);
            ev->prevent = rid;
            if (mode && *mode == JB_MODE_ENFORCE) {
                bpf_send_signal(9); /* delivered before the new image's first instruction */
                flags |= JB_F_PREVENTED;
            } else {
                flags |= JB_F_WOULD;
            }
            flags |= JB_F_PASSED;
        }
    }
    ev->flags = flags;
    emit(ev, sizeof(*ev), JB_S_EXEC);
    return 0;
}

RAW_TRACEPOINT_PROBE(sched_process_fork)
{
    u64 child = ctx->args[1];
    u32 pid = rd32(child + OFF_TASK_STRUCT_PID);
    u32 tgid = rd32(child + OFF_TASK_STRUCT_TGID);
    if (pid != tgid)
        return 0; /* a new thread, not a process */
    struct jb_proc_event ev = {};
    fill_hdr(&ev.h, JB_EV_FORK);
    ev.child = tgid;
    stat_inc(JB_S_PROC, JB_STAT_SEEN);
    emit(&ev, sizeof(ev), JB_S_PROC);
    return 0;
}

RAW_TRACEPOINT_PROBE(sched_process_exit)
{
    u64 task = ctx->args[0];
    if (!(ctx->args[1] & 1)) /* group_dead */
        return 0;
    struct jb_proc_event ev = {};
    fill_hdr(&ev.h, JB_EV_EXIT);
    u32 code = rd32(task + OFF_TASK_STRUCT_EXIT_CODE);
    ev.code = (code & 0x7f) ? -1 : (s32)((code >> 8) & 0xff); /* killed: -1, like before */
    stat_inc(JB_S_PROC, JB_STAT_SEEN);
    emit(&ev, sizeof(ev), JB_S_PROC);
    return 0;
}

/* ============================================================================ */
/* raw_syscalls fallback (attached only on demand). */

static __always_inline u64 fd_file(s64 fd)
{
    if (fd < 0)
        return 0;
    u64 task = bpf_get_current_task();
    u64 fdt = rd(rd(task + OFF_TASK_STRUCT_FILES) + OFF_FILES_STRUCT_FDT);
#if OFF_FDTABLE_MAX_FDS == 0 && OFF_FDTABLE_FD == 8
    u64 hd[2] = {}; /* max_fds and fd[] side by side: one read */
    bpf_probe_read_kernel(hd, sizeof(hd), (void *)fdt);
    u32 max = (u32)hd[0];
    u64 arr = hd[1];
#else
    u32 max = rd32(fdt + OFF_FDTABLE_MAX_FDS);
    u64 arr = rd(fdt + OFF_FDTABLE_FD);
#endif
    if ((u64)fd >= max)
        return 0;
    return rd(arr + 8 * (u64)fd);
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

/* An action on an open file: the verdict for its dentry comes from dcache (hit: no path
 * walk, no string) or from walking the dentry to an absolute path and the tables. */
static __always_inline int obj_action(void *ctx, u64 file, u32 actions, s32 fd, int is_open)
{
    if (!file)
        return 0;
    u32 gen = 0;
    struct jb_cfg2 *c = live_cfg(&gen);
    if (!c || !(c->fbmask & actions) || (!c->file_tables && !c->file_any))
        return 0;
#if OFF_FILE_F_PATH_DENTRY == OFF_FILE_F_PATH_MNT + 8
    u64 fp[2] = {}; /* struct path {mnt, dentry}: one read */
    bpf_probe_read_kernel(fp, sizeof(fp), (void *)(file + OFF_FILE_F_PATH_MNT));
    u64 mnt = fp[0], dentry = fp[1];
#else
    u64 dentry = rd(file + OFF_FILE_F_PATH_DENTRY);
    u64 mnt = rd(file + OFF_FILE_F_PATH_MNT);
#endif
    u64 hl = rd(dentry + OFF_DENTRY_D_NAME_HASH_LEN);
    u32 z = 0;
    u32 *ep = epoch.lookup(&z);
    u32 tag = gen | ((ep ? *ep : 0) << 1);
    struct jb_dval *dv = dcache.lookup(&dentry);
    if (dv && dv->tag == tag && dv->hash_len == hl && dv->mnt == mnt && !(dv->mask & actions))
        return 0; /* the common case: a file no recipe watches for these actions */
    struct jb_obj_event *ev = scratch_obj.lookup(&z);
    struct jb_tc *st = tc_state.lookup(&z);
    if (!ev || !st)
        return 0;
    stat_inc(JB_S_FILE, JB_STAT_SEEN);
    u32 flags = 0;
    st->slot = dpath(dentry, mnt, ev->pk.path, &flags);
    st->file = file;
    st->dentry = dentry;
    st->mnt = mnt;
    st->hash_len = hl;
    st->tag = tag;
    st->actions = actions;
    st->flags = flags;
    st->fd = fd;
    st->is_open = is_open;
    st->gen = gen;
    progs.call(ctx, JB_TC_OBJ);
    return 0;
}

int jb_obj_filter(struct bpf_raw_tracepoint_args *ctx)
{
    u32 z = 0;
    struct jb_obj_event *ev = scratch_obj.lookup(&z);
    struct jb_tc *st = tc_state.lookup(&z);
    if (!ev || !st)
        return 0;
    u32 gen = st->gen & 1;
    struct jb_cfg2 *c = cfg2.lookup(&gen);
    if (!c)
        return 0;
    u32 flags = st->flags;
    u64 full = 0, base = 0, file = st->file, dentry = st->dentry;
    u32 actions = st->actions;
    u32 m = path_mask(&ev->pk, st->slot, c, gen, &flags, &full, &base);
    if (!(flags & JB_F_TRUNCATED)) {
        struct jb_dval nv = {.tag = st->tag, .mask = m, .hash_len = st->hash_len, .mnt = st->mnt};
        dcache.update(&dentry, &nv);
    }
    if (!(m & actions))
        return 0;
    u32 close = actions & (1 << JB_FA_CLOSE);
    if (st->is_open) {
        struct jb_fseen fsn = {.dentry = dentry, .seen = 0};
        fseen.update(&file, &fsn);
    } else {
        struct jb_fseen *fs = fseen.lookup(&file);
        if (close) {
            fseen.delete(&file);
        } else if (fs && fs->dentry == dentry) {
            if ((fs->seen & actions) == actions)
                return 0; /* reported once per open file */
            fs->seen |= actions;
        } else {
            struct jb_fseen fsn = {.dentry = dentry, .seen = actions};
            fseen.update(&file, &fsn);
        }
    }
    fill_hdr(&ev->h, JB_EV_OBJ);
    ev->actions = actions;
    ev->flags = flags;
    ev->mask = m;
    ev->fd = st->fd;
    ev->ino = rd(rd(dentry + OFF_DENTRY_D_INODE) + OFF_INODE_I_INO);
    emit(ev, sizeof(*ev), JB_S_FILE);
    return 0;
}

/* A path syscall that succeeded: decided on the user string, like the previous design
 * (the object may be gone: unlink, rename). Relative paths go to userspace with the dirfd. */
static __always_inline int path_action(u64 upath, s32 dfd, u32 actions, u32 xflags)
{
    u32 gen = 0;
    struct jb_cfg2 *c = live_cfg(&gen);
    if (!c)
        return 0;
    if (!(xflags & JB_F_CHDIR) && (!(c->fbmask & actions) || (!c->file_tables && !c->file_any)))
        return 0;
    u32 zero = 0;
    struct jb_file_event *ev = scratch_file.lookup(&zero);
    if (!ev)
        return 0;
    ev->pk.path[0] = 0;
    int len = 1;
    if (upath) {
        len = bpf_probe_read_user_str(ev->pk.path, sizeof(ev->pk.path), (void *)upath);
        if (len <= 0)
            return 0;
    }
    u32 flags = xflags;
    u32 m = 0;
    if (!(xflags & JB_F_CHDIR)) {
        stat_inc(JB_S_FILE, JB_STAT_SEEN);
        u64 full = 0, base = 0;
        m = path_mask(&ev->pk, len, c, gen, &flags, &full, &base);
        if (!(m & actions))
            return 0;
    }
    fill_hdr(&ev->h, JB_EV_FILE);
    ev->actions = actions;
    ev->flags = flags;
    ev->dfd = dfd;
    ev->ret = 0;
    ev->mask = m;
    ev->file_id = 0;
    emit(ev, sizeof(*ev), JB_S_FILE);
    return 0;
}

static __always_inline void bump_epoch(void)
{
    u32 z = 0;
    u32 *ep = epoch.lookup(&z);
    if (ep)
        __sync_fetch_and_add(ep, 1);
}

#define ARG(r, reg) rd((r) + OFF_PT_REGS_##reg)
#define RENAME (1 << JB_FA_RENAME)
#define LINK (1 << JB_FA_LINK)

/* Descriptor actions checked at sys_exit (the fd is still installed; close is at sys_enter). */
static __always_inline u32 fd_act(u64 nr)
{
    switch (nr) {
    case 0: case 17: case 19: return 1 << JB_FA_READ;
    case 1: case 18: case 20: return 1 << JB_FA_WRITE;
    case 8: return 1 << JB_FA_LLSEEK;
    case 9: return 1 << JB_FA_MMAP;
    case 72: return 1 << JB_FA_FASYNC;
    case 73: return 1 << JB_FA_FLOCK;
    case 74: case 75: return 1 << JB_FA_FSYNC;
    case 77: return 1 << JB_FA_TRUNCATE;
    }
    return 0;
}

/* sys_exit: the one fallback program (plus jb_sys_enter for close). Dispatch on the syscall
 * number first: every other syscall of the host returns after one 8-byte read. */
int jb_sys_exit(struct bpf_raw_tracepoint_args *ctx)
{
    u64 regs = ctx->args[0];
    long ret = ctx->args[1];
    u64 nr = rd(regs + OFF_PT_REGS_ORIG_AX);
    u32 kind = 0; /* 1 open, 2 path, 3 fd */
    switch (nr) {
    case 2: case 85: case 257: case 437:
        kind = 1;
        break;
    case 82: case 264: case 316:                      /* rename*: a directory's subtree moves */
    case 165: case 166: case 155: case 429: case 161: /* mount, umount2, pivot_root, move_mount, chroot */
        if (ret >= 0)
            bump_epoch(); /* paths of cached dentries may have changed */
        kind = 2;
        break;
    /* unlink/rmdir need no bump: a freed and reused dentry has another d_name.hash_len
     * (the name hash is salted with the parent pointer), which the dcache entry checks */
    case 87: case 263: case 84: case 86: case 265: case 76: case 80: case 81:
        kind = 2;
        break;
    case 0: case 17: case 19: case 1: case 18: case 20: case 8: case 9:
    case 72: case 73: case 74: case 75: case 77:
        kind = 3;
        break;
    default:
        return 0;
    }
    if (ret < 0)
        return 0;
    u32 gen = 0;
    struct jb_cfg2 *c = live_cfg(&gen);
    if (!c)
        return 0;
    if (kind == 3) {
        u32 a = fd_act(nr);
        if (!(c->fbmask & a))
            return 0;
        s64 fd;
        if (nr == 9) {
            if (ARG(regs, R10) & MAP_ANONYMOUS)
                return 0;
            fd = (s32)ARG(regs, R8);
        } else {
            fd = (s32)ARG(regs, DI);
        }
        if (nr == 72 && !(ARG(regs, SI) == F_SETFL && (ARG(regs, DX) & FASYNC)))
            return 0;
        return obj_action(ctx, fd_file(fd), a, fd, 0);
    }
    if (kind == 1) {
        if (!(c->fb & JB_FB_OPEN))
            return 0;
        u64 fl = 0;
        if (nr == 2)
            fl = ARG(regs, SI);
        else if (nr == 85)
            fl = O_CREAT | O_WRONLY | O_TRUNC;
        else if (nr == 257)
            fl = ARG(regs, DX);
        else
            bpf_probe_read_user(&fl, sizeof(fl), (void *)ARG(regs, DX));
        u32 a = open_actions(fl);
        if (!(c->fbmask & a))
            return 0;
        return obj_action(ctx, fd_file(ret), a, ret, 1);
    }
    if (!(c->fb & JB_FB_PATH))
        return 0;
    u32 z = 0;
    struct jb_tc *st = tc_state.lookup(&z);
    if (!st)
        return 0;
    st->slot = 0;
    progs.call(ctx, JB_TC_PATH);
    return 0;
}

/* Path syscalls at sys_exit, one path per invocation; two-path syscalls (rename, link) tail
 * call themselves for the second path. */
int jb_path(struct bpf_raw_tracepoint_args *ctx)
{
    u64 regs = ctx->args[0];
    u64 nr = rd(regs + OFF_PT_REGS_ORIG_AX);
    u32 z = 0;
    struct jb_tc *st = tc_state.lookup(&z);
    if (!st)
        return 0;
    u32 slot = st->slot;
    u64 p = 0;
    s32 dfd = JB_AT_FDCWD;
    u32 act = 0, xf = 0, two = 0;
    switch (nr) {
    case 87: p = ARG(regs, DI); act = 1 << JB_FA_UNLINK; break;
    case 263: p = ARG(regs, SI); dfd = ARG(regs, DI); act = 1 << JB_FA_UNLINK; break;
    case 82: p = slot ? ARG(regs, SI) : ARG(regs, DI); act = RENAME; two = 1; break;
    case 264:
    case 316:
        p = slot ? ARG(regs, R10) : ARG(regs, SI);
        dfd = slot ? ARG(regs, DX) : ARG(regs, DI);
        act = RENAME;
        two = 1;
        break;
    case 86: p = slot ? ARG(regs, SI) : ARG(regs, DI); act = slot ? LINK | (1 << JB_FA_CREATE) : LINK; two = 1; break;
    case 265:
        p = slot ? ARG(regs, R10) : ARG(regs, SI);
        dfd = slot ? ARG(regs, DX) : ARG(regs, DI);
        act = slot ? LINK | (1 << JB_FA_CREATE) : LINK;
        two = 1;
        break;
    case 76: p = ARG(regs, DI); act = 1 << JB_FA_TRUNCATE; break;
    case 80: p = ARG(regs, DI); xf = JB_F_CHDIR | JB_F_SILENT; break;
    case 81: dfd = ARG(regs, DI); xf = JB_F_CHDIR | JB_F_SILENT; break;
    default: return 0;
    }
    path_action(p, dfd, act, xf);
    if (two && slot == 0) {
        st->slot = 1;
        progs.call(ctx, JB_TC_PATH);
    }
    return 0;
}

/* sys_enter: close (the file is still installed). Attached only when the fallback serves it. */
int jb_sys_enter(struct bpf_raw_tracepoint_args *ctx)
{
    if (ctx->args[1] != 3)
        return 0;
    s64 fd = (s32)ARG(ctx->args[0], DI);
    return obj_action(ctx, fd_file(fd), 1 << JB_FA_CLOSE, fd, 0);
}
