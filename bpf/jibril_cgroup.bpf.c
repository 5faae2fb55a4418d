/* jibril-rules network mechanism: cgroup v2 programs (Jibril's own netpolicy mechanism).
 *
 * Attached to a cgroup2 root the agent mounts (jibril_rules/sensor/cgroupnet.py), so every
 * process of the host, in any network or mount namespace, runs them on its own socket
 * operations and nothing else: no syscall tracepoint, no cost for non-network syscalls.
 *
 *   connect4/6   flow "started" (remote address/port known; local tuple at ESTABLISHED),
 *                and prevent: deny (return 0 -> connect() fails with EPERM)
 *   sendmsg4/6   unconnected UDP datagrams: one flow per (process, destination), and deny
 *   bind4/6      the listener's owner per port (incoming flows are attributed to it)
 *   skb ingress  DNS answers (UDP source port 53) -> userspace: names, NetBlockDomain;
 *                answers for a blocked name are dropped (synchronous NetBlockDomain)
 *   sock:inet_sock_set_state  TCP tuple and state (ongoing / ended), as the first sensor did
 *
 * Records are the ones of jibril_events.h (jb_flow_event, jb_dns_event), so the assembler
 * is shared. Tables are double-buffered with a generation byte like bpf/jibril.bpf.c.
 * Only context fields and BPF helpers are read; no kernel struct is dereferenced.
 */
#include <uapi/linux/bpf.h>
#include "jibril_events.h"

#ifndef JB_MAX_CIDR
#define JB_MAX_CIDR 32768
#endif
#ifndef JB_MAX_PORTS
#define JB_MAX_PORTS 8192
#endif
#ifndef JB_RB_PAGES
#define JB_RB_PAGES 1024
#endif

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define SOCK_STREAM 1
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
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
BPF_ARRAY(deny_cfg, struct jb_deny_cfg, 2);
BPF_PERCPU_ARRAY(stats, u64, JB_NSENSORS * JB_NSTATS);
BPF_LPM_TRIE(net_rcidr, struct jb_cidr_key, u8, JB_MAX_CIDR);
BPF_LPM_TRIE(net_lcidr, struct jb_cidr_key, u8, JB_MAX_CIDR);
BPF_HASH(net_ports, struct jb_port_key, u8, JB_MAX_PORTS);
BPF_LPM_TRIE(deny_cidr, struct jb_cidr_key, u64, JB_MAX_CIDR);
BPF_HASH(deny_port, struct jb_port_key, u64, JB_MAX_PORTS);

BPF_LPM_TRIE(block_dom, struct jb_qname_key, u8, 16384);
BPF_PERCPU_ARRAY(scratch_dns, struct jb_dns_event, 1);
BPF_TABLE("lru_hash", u64, struct jb_owner, sk_owner, 65536);
BPF_TABLE("lru_hash", struct jb_listen_key, struct jb_owner, listen_owner, 8192);
struct jb_dgram_key { u32 tgid; u16 family; u16 port; u8 addr[16]; };
BPF_TABLE("lru_hash", struct jb_dgram_key, u8, dgram_seen, 16384);

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

/* Mirrors jibril_rules.kernel_tables.KernelModel.passes_flow (as bpf/jibril.bpf.c). */
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

/* Bits of the prevent: deny rules whose whole condition holds for this destination.
 * A rule holds when its CIDR set (or "any") and its port set (or "any") both match; the
 * LPM value of a prefix already holds the bits of every shorter prefix containing it. */
static __always_inline u64 deny_bits(struct jb_deny_cfg *d, u32 gen, struct jb_flow_event *ev,
                                     void *ctx)
{
    if (!d->rules)
        return 0;
    if (d->netns_cookie && bpf_get_netns_cookie(ctx) != d->netns_cookie)
        return 0;
    struct jb_cidr_key k = {};
    k.prefixlen = 32 + 128;
    k.gen = gen;
    cidr_addr(&k, ev->family, ev->raddr);
    u64 cm = d->any_cidr;
    u64 *v = deny_cidr.lookup(&k);
    if (v)
        cm |= *v;
    u64 pm = d->any_port;
    struct jb_port_key pk = {.port = ev->rport, .gen = gen, .remote = 1};
    u64 *p = deny_port.lookup(&pk);
    if (p)
        pm |= *p;
    return cm & pm & d->rules;
}

static __always_inline struct jb_ctl *live_ctl(u32 *gen)
{
    u32 zero = 0;
    struct jb_ctl *c = ctl.lookup(&zero);
    if (!c)
        return 0;
    *gen = c->gen & 1;
    return c;
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

static __always_inline u16 ctx_port(struct bpf_sock_addr *ctx)
{
    u32 p = ctx->user_port; /* network order in the low 16 bits */
    return ((p & 0xff) << 8) | ((p >> 8) & 0xff);
}

static __always_inline void ctx_addr(struct bpf_sock_addr *ctx, struct jb_flow_event *ev)
{
    if (ev->family == AF_INET) {
        u32 a = ctx->user_ip4;
        __builtin_memcpy(ev->raddr, &a, 4);
        return;
    }
    u32 a0 = ctx->user_ip6[0], a1 = ctx->user_ip6[1], a2 = ctx->user_ip6[2],
        a3 = ctx->user_ip6[3];
    __builtin_memcpy(ev->raddr, &a0, 4);
    __builtin_memcpy(ev->raddr + 4, &a1, 4);
    __builtin_memcpy(ev->raddr + 8, &a2, 4);
    __builtin_memcpy(ev->raddr + 12, &a3, 4);
}

/* connect and sendmsg: 1 lets the operation go on, 0 makes it fail with EPERM. */
static __always_inline int sock_out(struct bpf_sock_addr *ctx, u16 family, int dgram)
{
    u32 gen = 0;
    struct jb_ctl *c = live_ctl(&gen);
    if (!c)
        return 1;
    u64 pt = bpf_get_current_pid_tgid();
    if (c->self_tgid == (u32)(pt >> 32))
        return 1;
    struct jb_cfg *cf = cfg.lookup(&gen);
    struct jb_deny_cfg *d = deny_cfg.lookup(&gen);
    if (!cf || !d)
        return 1;
    struct jb_flow_event ev = {};
    ev.family = family;
    ev.proto = ctx->type == SOCK_STREAM ? IPPROTO_TCP : IPPROTO_UDP;
    ev.rport = ctx_port(ctx);
    ctx_addr(ctx, &ev);
    u64 bits = deny_bits(d, gen, &ev, ctx);
    int pass = net_pass(cf, gen, &ev);
    if (!bits && !pass)
        return 1;
    if (dgram && !bits) { /* one flow per process and destination, not per datagram */
        struct jb_dgram_key dk = {.tgid = pt >> 32, .family = family, .port = ev.rport};
        __builtin_memcpy(dk.addr, ev.raddr, 16);
        if (dgram_seen.lookup(&dk))
            return 1;
        u8 one = 1;
        dgram_seen.update(&dk, &one);
    }
    fill_hdr(&ev.h, JB_EV_FLOW);
    ev.flags = (1 << JB_FF_CREATED) | (1 << JB_FF_EGRESS) | (1 << JB_FF_OUTGOING) |
               (1 << JB_FF_STARTED);
    int verdict = 1;
    if (bits) {
        u32 idx = 0; /* lowest fired rule, 1-based, for the "prevented by" recipe name */
        for (int i = 0; i < 64; i++) {
            if (bits >> i & 1) {
                idx = i + 1;
                break;
            }
        }
        ev._pad = idx;
        if (bits & d->enforce) {
            ev.flags |= 1 << JB_FF_DENIED;
            verdict = 0;
        } else {
            ev.flags |= 1 << JB_FF_WOULD_DENY;
        }
    }
    stat_inc(JB_S_NET, JB_STAT_SEEN);
    emit(&ev, sizeof(ev), JB_S_NET);
    return verdict;
}

int jb_connect4(struct bpf_sock_addr *ctx) { return sock_out(ctx, AF_INET, 0); }
int jb_connect6(struct bpf_sock_addr *ctx) { return sock_out(ctx, AF_INET6, 0); }
int jb_sendmsg4(struct bpf_sock_addr *ctx) { return sock_out(ctx, AF_INET, 1); }
int jb_sendmsg6(struct bpf_sock_addr *ctx) { return sock_out(ctx, AF_INET6, 1); }

static __always_inline void owner_current(struct jb_owner *o, u32 flags)
{
    u64 pt = bpf_get_current_pid_tgid();
    o->tgid = pt >> 32;
    o->uid = (u32)bpf_get_current_uid_gid();
    bpf_get_current_comm(&o->comm, sizeof(o->comm));
    o->flags = flags;
    o->ended = 0;
}

/* listen() sets TCP_LISTEN without the tracepoint: the listener's owner is learned here. */
static __always_inline int sock_bind(struct bpf_sock_addr *ctx, u16 family)
{
    u16 port = ctx_port(ctx);
    if (port == 0)
        return 1;
    struct jb_listen_key lk = {.family = family, .port = port};
    struct jb_owner o = {};
    owner_current(&o, (1 << JB_FF_INCOMING) | (1 << JB_FF_INGRESS));
    listen_owner.update(&lk, &o);
    return 1;
}

int jb_bind4(struct bpf_sock_addr *ctx) { return sock_bind(ctx, AF_INET); }
int jb_bind6(struct bpf_sock_addr *ctx) { return sock_bind(ctx, AF_INET6); }

TRACEPOINT_PROBE(sock, inet_sock_set_state)
{
    if (args->protocol != IPPROTO_TCP)
        return 0;
    u32 gen = 0;
    struct jb_ctl *ct = live_ctl(&gen);
    if (!ct)
        return 0;
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
        return 0;
    }
    struct jb_listen_key lk = {.family = family, .port = args->sport};
    if (ns == TCP_LISTEN) {
        owner_current(&tmp, (1 << JB_FF_INCOMING) | (1 << JB_FF_INGRESS));
        listen_owner.update(&lk, &tmp);
        return 0;
    }
    if (os == TCP_LISTEN) {
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

/* ---- DNS answers on ingress: UDP from source port 53, whatever socket receives them
 * (connected or not, any process, any network namespace). Parsed in userspace: names for
 * flow.remote.names, and addresses of domains blocked by NetBlockDomain. An answer whose
 * question is a blocked name is dropped here, synchronously: block_dom is an LPM trie of
 * wire-format names including the root byte, so one lookup with the question's first bytes
 * (whatever follows the name does not matter) matches exactly, with no loop. ---- */
static __always_inline u32 dns_blocked(struct __sk_buff *skb, u32 off)
{
    struct jb_qname_key k = {};
    u32 len = skb->len;
    if (off >= len)
        return 0;
    u32 n = len - off;
    if (n > JB_QNAME_KEY)
        n = JB_QNAME_KEY;
    asm volatile("" : "+r"(n));
    n &= 2 * JB_QNAME_KEY - 1;
    if (n < 2 || n > JB_QNAME_KEY || bpf_skb_load_bytes(skb, off, k.name, n))
        return 0;
    k.prefixlen = 8 * JB_QNAME_KEY;
    return block_dom.lookup(&k) ? 1 : 0;
}
int jb_skb_ingress(struct __sk_buff *skb)
{
    u32 l4 = 0;
    u8 proto = 0;
    if (skb->protocol == __builtin_bswap16(ETH_P_IP)) {
        u8 vihl = 0;
        if (bpf_skb_load_bytes(skb, 0, &vihl, 1) || bpf_skb_load_bytes(skb, 9, &proto, 1))
            return 1;
        l4 = (vihl & 0xf) * 4;
    } else if (skb->protocol == __builtin_bswap16(ETH_P_IPV6)) {
        if (bpf_skb_load_bytes(skb, 6, &proto, 1))
            return 1;
        l4 = 40;
    } else {
        return 1;
    }
    if (proto != IPPROTO_UDP)
        return 1;
    u8 sport[2] = {};
    if (bpf_skb_load_bytes(skb, l4, sport, 2) || sport[0] != 0 || sport[1] != 53)
        return 1;
    u32 gen = 0;
    if (!live_ctl(&gen))
        return 1;
    u32 zero = 0;
    struct jb_dns_event *ev = scratch_dns.lookup(&zero);
    if (!ev)
        return 1;
    u32 off = l4 + 8;
    if (skb->len < off + 12)
        return 1;
    stat_inc(JB_S_DNS, JB_STAT_SEEN);
    u32 verdict = 1;
    struct jb_deny_cfg *d = deny_cfg.lookup(&gen);
    if (d && d->domains && dns_blocked(skb, off + 12))
        verdict = 0;
    ev->h.type = JB_EV_DNS;
    ev->h.tgid = 0; /* softirq: no receiving process here; the names are host-wide */
    ev->h.tid = 0;
    ev->h.uid = 0;
    ev->h.ts = bpf_ktime_get_boot_ns();
    ev->_pad = verdict ? 0 : 1; /* 1: dropped (a blocked name) */
    u32 n = skb->len - off;
    if (n > JB_DNS_MAX - 1)
        n = JB_DNS_MAX - 1;
    asm volatile("" : "+r"(n));
    n &= JB_DNS_MAX - 1;
    if (n < 12)
        return verdict;
    ev->len = n;
    if (bpf_skb_load_bytes(skb, off, ev->data, n))
        return verdict;
    emit(ev, sizeof(*ev), JB_S_DNS);
    return verdict;
}
