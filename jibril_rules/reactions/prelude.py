"""JavaScript installed once in every reaction isolate.

`PRELUDE` evaluates to an installer function. Python calls it with the native bridge
function (made by `mr_make_js_callback`, which calls back into Python synchronously on the
isolate thread). The installer:

1. allocates the SharedArrayBuffer through which requests and responses travel (Python
   holds a memoryview of its backing store, so no copy through V8's value API is needed);
2. defines the helper globals (read-only, non-configurable);
3. wraps code-generating constructors (eval, Function, ...) so that a run that used them
   marks the isolate as tainted (it is then thrown away);
4. freezes every intrinsic reachable from globalThis ("lockdown"), with the classic
   override-mistake fix for a few prototype properties;
5. records the baseline set of globals, and returns the runner and the buffer.

The runner fetches its input through the bridge, compiles the reaction body once per code
key with the Function constructor (which parses the body on its own, so the code cannot
escape its wrapper), calls `process(data)`, then deletes every global the run added.
"""

from __future__ import annotations

# Layout of the shared buffer (bytes): 0..31 Int32 header, 32..39 Float64 number result,
# 64.. Uint16 payload (UTF-16 code units).
HEADER_BYTES = 64
OP, REQ_LEN, REQ_MORE, RESP_TYPE, RESP_LEN, RESP_MORE = range(6)
RT_UNDEFINED, RT_NUMBER, RT_STRING, RT_JSON, RT_NULL, RT_BOOL = range(6)
OP_NEXT = 0
OP_INPUT = 1
FIRST_HELPER_OP = 8

PRELUDE = r"""
(function (capacityUnits, helperTable) {
  'use strict';
  return function install(bridge) {
    const G = globalThis;
    const FunctionCtor = Function;
    const apply = Reflect.apply, ownKeys = Reflect.ownKeys, defineProperty = Object.defineProperty;
    const getDesc = Object.getOwnPropertyDescriptor, getProto = Object.getPrototypeOf;
    const freeze = Object.freeze, isFrozen = Object.isFrozen;
    const stringify = JSON.stringify, parse = JSON.parse;
    const fromCharCode = String.fromCharCode, charCodeAt = String.prototype.charCodeAt;
    const SetCtor = Set, MapCtor = Map, ErrorCtor = Error, StringCtor = String;
    const setHas = Set.prototype.has, setAdd = Set.prototype.add;
    const mapGet = Map.prototype.get, mapSet = Map.prototype.set;
    const sab = new SharedArrayBuffer(64 + capacityUnits * 2);
    const hdr = new Int32Array(sab, 0, 8);
    const num = new Float64Array(sab, 32, 1);
    const u16 = new Uint16Array(sab, 64, capacityUnits);
    const subarray = Uint16Array.prototype.subarray;
    let tainted = false;

    function decode(n) {
      let s = '';
      for (let i = 0; i < n; i += 8192) {
        const end = n < i + 8192 ? n : i + 8192;
        s += apply(fromCharCode, null, apply(subarray, u16, [i, end]));
      }
      return s;
    }
    function call(op, args) {
      const s = stringify(args);
      const n = s.length;
      let off = 0;
      do {
        const m = n - off < capacityUnits ? n - off : capacityUnits;
        for (let i = 0; i < m; i++) u16[i] = apply(charCodeAt, s, [off + i]);
        hdr[0] = op; hdr[1] = m; hdr[2] = off + m < n ? 1 : 0;
        bridge();
        off += m;
      } while (off < n);
      const t = hdr[3];
      if (t === 1) return num[0];
      if (t === 0) return undefined;
      if (t === 4) return null;
      if (t === 5) return num[0] !== 0;
      let out = decode(hdr[4]);
      while (hdr[5] === 1) {
        hdr[0] = 0; hdr[1] = 0; hdr[2] = 0;
        bridge();
        out += decode(hdr[4]);
      }
      return t === 3 ? parse(out) : out;
    }

    // 2. helpers
    for (const entry of helperTable) {
      const op = entry[1];
      const logs = entry[0] === 'Info' || entry[0] === 'Warn' || entry[0] === 'Error';
      const f = { [entry[0]]: function (...args) {
        if (logs) for (let i = 0; i < args.length; i++) args[i] = StringCtor(args[i]);
        return call(op, args);
      } }[entry[0]];
      if (entry[0] === 'Error') {
        // Jibril's Error(msg) logs; `new Error(...)` / `extends Error` still build errors
        const logError = f;
        const E = function Error(...args) {
          if (new.target !== undefined) {
            return Reflect.construct(ErrorCtor, args, new.target === E ? ErrorCtor : new.target);
          }
          return apply(logError, undefined, args);
        };
        defineProperty(E, 'prototype', { value: ErrorCtor.prototype });
        for (const k of ['captureStackTrace', 'stackTraceLimit']) {
          const d = getDesc(ErrorCtor, k);
          if (d) defineProperty(E, k, d);
        }
        freeze(E);
        defineProperty(G, 'Error', { value: E, writable: false, enumerable: false, configurable: false });
        continue;
      }
      freeze(f);
      defineProperty(G, entry[0], { value: f, writable: false, enumerable: false, configurable: false });
    }

    // 3. code generation marks the isolate as tainted
    const indirectEval = G.eval;
    const wrapCtor = (Ctor) => {
      const w = function (...args) { tainted = true; return apply(Ctor, undefined, args); };
      defineProperty(w, 'prototype', { value: Ctor.prototype });
      defineProperty(Ctor.prototype, 'constructor', { value: w });
      return w;
    };
    const evalWrapper = function (src) { tainted = true; return apply(indirectEval, G, [src]); };
    defineProperty(G, 'eval', { value: evalWrapper });
    defineProperty(G, 'Function', { value: wrapCtor(FunctionCtor) });
    for (const proto of [getProto(async function () {}), getProto(function* () {}),
                         getProto(async function* () {})]) {
      wrapCtor(proto.constructor);
    }

    // 3b. array-buffer memory is capped by V8's allocator (v8mem.py). Resizable buffers
    // reserve address space and commit it on resize() without asking the allocator, so
    // they are not available; nor are WebAssembly and Atomics.wait.
    const construct = Reflect.construct;
    const noResizable = (Ctor) => {
      const w = function (...args) {
        if (new.target === undefined) throw new TypeError('Constructor requires new');
        const opts = args[1];
        if (opts !== null && typeof opts === 'object' && opts.maxByteLength !== undefined) {
          throw new RangeError('reaction memory limit: resizable buffers are not available');
        }
        return construct(Ctor, [args[0]], new.target === w ? Ctor : new.target);
      };
      for (const k of ownKeys(Ctor)) {
        if (k === 'length' || k === 'name') continue;
        try { defineProperty(w, k, getDesc(Ctor, k)); } catch (e) { /* ignore */ }
      }
      defineProperty(w, 'name', { value: Ctor.name });
      defineProperty(Ctor.prototype, 'constructor', { value: w, writable: true, configurable: true });
      defineProperty(G, Ctor.name, { value: w, writable: true, configurable: true });
    };
    noResizable(ArrayBuffer);
    noResizable(SharedArrayBuffer);
    delete G.WebAssembly;
    if (typeof Atomics === 'object') { delete Atomics.wait; delete Atomics.waitAsync; }

    // 4. lockdown
    const tameNames = ['constructor', 'toString', 'valueOf', 'toLocaleString', 'name',
                       'message', 'hasOwnProperty', 'isPrototypeOf', 'propertyIsEnumerable',
                       'toJSON', 'then', 'stack'];
    const seen = new SetCtor();
    const todo = [G];
    while (todo.length) {
      const o = todo.pop();
      if (o === null || (typeof o !== 'object' && typeof o !== 'function')) continue;
      if (apply(setHas, seen, [o])) continue;
      apply(setAdd, seen, [o]);
      todo.push(getProto(o));
      for (const k of ownKeys(o)) {
        const d = getDesc(o, k);
        if (d === undefined) continue;
        if ('value' in d) todo.push(d.value); else { todo.push(d.get); todo.push(d.set); }
      }
    }
    for (const o of seen) {
      if (o === G) continue;
      const isProto = o === FunctionCtor.prototype || (typeof o === 'object' &&
        (o === Object.prototype || getDesc(o, 'constructor') !== undefined));
      if (isProto) {
        for (const k of tameNames) {
          const d = getDesc(o, k);
          if (!d || !('value' in d) || !d.writable || !d.configurable) continue;
          const value = d.value;
          const home = o;
          defineProperty(o, k, {
            get() { return value; },
            set(v) {
              if (this === home) throw new TypeError('Cannot assign to read only property ' + StringCtor(k) + ' of a frozen intrinsic');
              defineProperty(this, k, { value: v, writable: true, enumerable: true, configurable: true });
            },
            enumerable: d.enumerable, configurable: false,
          });
        }
      }
      try { freeze(o); } catch (e) { /* typed arrays cannot be frozen */ }
    }
    const baseline = new SetCtor();
    for (const k of ownKeys(G)) {
      apply(setAdd, baseline, [k]);
      const d = getDesc(G, k);
      if (d && d.configurable) {
        try {
          if ('value' in d) defineProperty(G, k, { writable: false, configurable: false });
          else defineProperty(G, k, { configurable: false });
        } catch (e) { /* ignore */ }
      }
    }

    function resetGlobals() {
      let clean = true;
      for (const k of ownKeys(G)) {
        if (apply(setHas, baseline, [k])) continue;
        if (!delete G[k]) clean = false;
      }
      return clean;
    }
    function describe(e) {
      try {
        if (e instanceof ErrorCtor && typeof e.stack === 'string') return e.stack;
        return StringCtor(e);
      } catch (e2) { return 'unprintable exception'; }
    }

    // 5. runner: returns "<status>|<tainted>|<message>"
    const factories = new MapCtor();
    function run() {
      tainted = !resetGlobals();
      let status = 'O', message = '', inp;
      try {
        inp = call(1, []);
        if (inp === null || typeof inp !== 'object') throw new TypeError('no input for this run');
        let fac = apply(mapGet, factories, [inp.k]);
        if (fac === undefined) {
          try {
            fac = new FunctionCtor('kind', 'name', 'uuid', 'data',
              inp.src + '\n;return typeof process === "function" ? process : undefined;');
          } catch (e) { return 'S|00|' + describe(e); }
          freeze(fac);
          apply(mapSet, factories, [inp.k, fac]);
        }
        const proc = apply(fac, undefined, [inp.kind, inp.name, inp.uuid, inp.data]);
        if (typeof proc !== 'function') {
          status = 'N'; message = 'the reaction defines no process(data) function';
        } else {
          apply(proc, undefined, [inp.data]);
        }
      } catch (e) {
        status = 'E'; message = describe(e);
      }
      if (!resetGlobals()) tainted = true;
      const compiled = inp !== undefined && apply(mapGet, factories, [inp.k]) !== undefined;
      return status + '|' + (tainted ? '1' : '0') + (compiled ? '1' : '0') + '|' + message;
    }
    return [run, sab];
  };
})
"""
