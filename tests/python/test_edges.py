"""The live profiler at its edges (issue 12): crashes in every order of faulthandler and
start/stop, short threads, few file descriptors, stale signals, freed code objects, scans that
stop early, thousands of threads, kernel time, deep stacks. Each test failed on the shim as it
was before the split."""
import gc
import os
import signal
import textwrap
import threading
import time

import pytest

import spprof
from conftest import (PERF_ALLOWED, PERF_REFUSED, QEMU, QEMU_NO_PERF, QEMU_TIMER_MAX, QEMU_TIMERS,
                      check_identities, run_child, spin)
from spprof import _native

needs_perf = pytest.mark.skipif(not PERF_ALLOWED, reason=PERF_REFUSED or "")

# ---- 1. a crash ends the process as it would have without spprof --------------------------
CRASH_PRELUDE = textwrap.dedent("""
    import ctypes, faulthandler, os, time
    import spprof
    def spin(s):
        t0 = time.thread_time()
        while time.thread_time() - t0 < s:
            sum(range(1000))
    def wait():
        time.sleep(0.1)  # the consumer (every 20 ms) puts the guard back on top
""")
OPS = {"E": "faulthandler.enable()", "D": "faulthandler.disable()",
       "S": "spprof.start(interval_ms=1)", "P": "spprof.stop()", "w": "wait()"}
SEQUENCES = ["SEwD", "ESPSD", "SEwPSD", "SEwPD", "ESD", "ESwDP", "SEDw", "SwEwPSwD",
             "EDS", "SPED", "ESwPwD", "SEwPSwE", "EwSwEw"]


def crash_child(seq, crash, with_spprof):
    ops = [OPS[c] for c in seq if with_spprof or c not in "SP"]
    how = "ctypes.string_at(8)" if crash == "real" else "faulthandler._sigsegv()"
    code = CRASH_PRELUDE + "\n".join(ops) + f"\nspin(0.05)\n{how}\nprint('survived?!')\n"
    try:
        r = run_child(code, timeout=30)
    except Exception as e:  # a hang is the bug this test is about
        pytest.fail(f"{seq} {crash}: the crashing child did not end: {e}")
    return r.returncode, r.stderr.count("Fatal Python error"), "survived" in r.stdout


@pytest.mark.parametrize("crash", ["real", "raised"])
@pytest.mark.parametrize("seq", SEQUENCES)
def test_crash_ends_as_without_spprof(seq, crash):
    want = crash_child(seq, crash, with_spprof=False)
    got = crash_child(seq, crash, with_spprof=True)
    assert want[0] == -signal.SIGSEGV, want
    assert got == want, (seq, crash, "with spprof", got, "without", want)


# ---- 2. threads shorter than an interval ---------------------------------------------------
def consumer_cpu_s():
    """CPU time of spprof's consumer thread so far (it names itself spprof-consumer)."""
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/comm") as f:
                if f.read().strip() != "spprof-consumer":
                    continue
            with open(f"/proc/self/task/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except OSError:
            pass
    return 0.0


def short_threads(n, cpu_s, interval_ms, batch=4):
    cpu = []
    lock = threading.Lock()

    def body():
        used = spin(cpu_s)
        with lock:
            cpu.append(used)

    spprof.start(interval_ms=interval_ms)
    # the workers' whole CPU time, birth to end: the process's, less this thread's and the
    # consumer's (10 ms resolution)
    p0, m0, c0 = time.process_time(), time.thread_time(), consumer_cpu_s()
    for i in range(0, n, batch):
        ts = [threading.Thread(target=body) for _ in range(batch)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
    workers_cpu = (time.process_time() - p0) - (time.thread_time() - m0) - (consumer_cpu_s() - c0)
    p = spprof.stop()
    check_identities(p.stats)
    mine = sum(r.count for r in p.stacks if any(f.function.endswith("body") for f in r.frames))
    me = threading.get_native_id()
    workers = sum(r.count for r in p.stacks if r.native_thread_id != me)
    return (mine, sum(cpu) * 1000 / interval_ms), (workers, workers_cpu * 1000 / interval_ms), p.stats


@pytest.mark.parametrize("timer_name", ["perf_event", "posix_cpu_timer"])
@pytest.mark.parametrize("interval_ms,cpu_s", [(10, 0.005), (1, 0.0004)])
def test_short_threads_are_counted_in_expectation(monkeypatch, timer_name, interval_ms, cpu_s):
    """200 threads shorter than the interval. Each is a Bernoulli trial with p = its CPU /
    interval: the standard deviation of the total is about 7 samples. With perf_event the
    samples land where the time was spent (in body); a POSIX timer fires on the tick after
    the boundary, often after the thread ended, and that time is counted at the thread's end
    as <unsampled>: totals are right with both."""
    if timer_name == "perf_event" and not PERF_ALLOWED:
        pytest.skip(PERF_REFUSED)
    if timer_name == "posix_cpu_timer" and interval_ms == 1:
        pytest.skip("a POSIX timer cannot see the CPU a thread spends after its Python code "
                    "returned (thread teardown, about 0.4 ms on 3.14t): with 0.4 ms threads "
                    "at 1 ms that is a large part of each; docs/live-shim.md, Short threads")
    monkeypatch.setenv("SPPROF_TIMER", timer_name)
    (body, body_cpu), (workers, workers_cpu), st = short_threads(200, cpu_s, interval_ms)
    assert abs(workers - workers_cpu) <= max(35, 0.35 * workers_cpu), (workers, workers_cpu, st)
    if timer_name == "perf_event":
        # perf's samples land where the time was spent, in body, but for what a thread ran
        # before the consumer armed it: that is counted at its end, as <unsampled>. Here
        # that is a sample or two; a loaded machine arms late (once a fresh-clone CI run
        # armed one thread after it had ended, and half of body's time was <unsampled>).
        # <unsampled> also holds the late time of the thread's start and end outside body
        # (a CI run on 3.13: body 109, <unsampled> 39, for body's 104), so body alone is
        # bounded above and body with <unsampled> below; the workers' total is held to their CPU above.
        late = st["samples_unsampled"]
        diag = {k: st[k] for k in ("samples_unsampled", "arm_failures", "posix_fallbacks",
                                   "threads_armed", "samples_captured")}
        slack = max(35, 0.35 * body_cpu)
        assert body <= body_cpu + slack, (body, body_cpu, diag)
        assert body + late >= body_cpu - slack, (body, body_cpu, diag)
        assert body >= 0.5 * body_cpu - 10, (body, body_cpu, diag)


# ---- 3. file descriptors -------------------------------------------------------------------
@pytest.mark.skipif(QEMU, reason=f"{QEMU_NO_PERF}; and {QEMU_TIMERS}, fewer than these 81")
def test_perf_fds_leave_the_application_its_descriptors():
    code = textwrap.dedent("""
        import os, resource, threading, time
        import spprof
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
        stop = threading.Event()
        ts = [threading.Thread(target=stop.wait) for _ in range(80)]
        for t in ts: t.start()
        spprof.start(interval_ms=1)
        time.sleep(0.1)
        fds = [os.open("/dev/null", os.O_RDONLY) for _ in range(40)]
        for fd in fds: os.close(fd)
        st = spprof.stats()
        stop.set()
        for t in ts: t.join()
        spprof.stop()
        print("ok", st["threads_active"], st["threads_unsampled"], st["perf_fds"])
    """)
    r = run_child(code, timeout=60)
    assert r.returncode == 0, r.stderr
    _, active, unsampled, perf_fds = r.stdout.split()
    assert int(active) >= 81 and int(unsampled) == 0, r.stdout
    assert int(perf_fds) <= 64 // 8, r.stdout


@needs_perf
def test_perf_fds_are_capped_and_moved_high(monkeypatch):
    monkeypatch.setenv("SPPROF_TIMER", "perf_event")
    import resource
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    stop = threading.Event()
    ts = [threading.Thread(target=stop.wait) for _ in range(20)]
    for t in ts:
        t.start()
    spprof.start(interval_ms=10)
    try:
        st = spprof.stats()
        fd = os.open("/dev/null", os.O_RDONLY)
        os.close(fd)
    finally:
        stop.set()
        for t in ts:
            t.join()
        spprof.stop()
    assert st["threads_unsampled"] == 0, st
    assert st["perf_fds"] <= max(0, soft // 8), st
    assert fd < 64, fd  # the lowest numbers are still the application's


# ---- 4. stale signals ----------------------------------------------------------------------
def test_stale_signal_on_another_thread_does_not_hide_the_owner():
    ready, stop = threading.Event(), threading.Event()
    other = {}

    def sleeper():
        other["tid"] = threading.get_native_id()
        ready.set()
        while not stop.is_set():
            time.sleep(0.001)

    t = threading.Thread(target=sleeper)
    t.start()
    ready.wait()
    spprof.start(interval_ms=10)
    try:
        time.sleep(0.05)
        inside = _native._test_stale_signal(other["tid"])
    finally:
        stop.set()
        t.join()
        spprof.stop()
    assert inside == 1  # the owner (this thread, mid-"sample") is still seen inside


def test_storm_of_stale_signals_while_threads_churn():
    """Forged timer signals naming random slots, sent to random threads while threads come
    and go: every one is either a sample of its own thread or ignored; nothing crashes."""
    code = textwrap.dedent("""
        import ctypes, os, random, signal, threading, time
        import spprof
        libc = ctypes.CDLL(None, use_errno=True)
        class SigInfo(ctypes.Structure):
            _fields_ = [("signo", ctypes.c_int), ("errno", ctypes.c_int), ("code", ctypes.c_int),
                        ("pad0", ctypes.c_int), ("pid", ctypes.c_int), ("uid", ctypes.c_int),
                        ("value", ctypes.c_long), ("rest", ctypes.c_byte * 96)]
        def forge(tid, idx):
            si = SigInfo(signo=signal.SIGPROF, code=-2)  # SI_TIMER
            si.value = idx
            libc.syscall(NR_RT_TGSIGQUEUEINFO, os.getpid(), tid, signal.SIGPROF, ctypes.byref(si))
        def work():
            t0 = time.thread_time()
            while time.thread_time() - t0 < 0.01: sum(range(500))
        spprof.start(interval_ms=1)
        deadline = time.monotonic() + 2
        sent = 0
        while time.monotonic() < deadline:
            ts = [threading.Thread(target=work) for _ in range(4)]
            for t in ts: t.start()
            for t in ts:
                if t.native_id:
                    for _ in range(5):
                        forge(t.native_id, random.randrange(64)); sent += 1
            for t in ts: t.join()
        st = spprof.stop().stats
        assert st["samples_captured"] + st["samples_dropped"] == st["timer_expirations"]
        print("sent", sent, "captured", st["samples_captured"])
    """)
    # rt_tgsigqueueinfo's number; the siginfo layout above is the generic 64-bit one, x86-64's
    # and ARM64's alike
    nr = {"x86_64": 297, "aarch64": 240}.get(os.uname().machine)
    if nr is None:
        pytest.skip(f"rt_tgsigqueueinfo's syscall number on {os.uname().machine} is not known here")
    code = code.replace("NR_RT_TGSIGQUEUEINFO", str(nr))
    r = run_child(code, timeout=120)
    assert r.returncode == 0, (r.returncode, r.stderr[-2000:])
    assert "sent" in r.stdout and int(r.stdout.split()[1]) > 100, r.stdout


# ---- 5. freed code objects -----------------------------------------------------------------
def test_freed_code_is_never_named_after_its_successor():
    interval_ms = 1
    cpu = {}
    spprof.start(interval_ms=interval_ms)
    for i in range(150):
        ns = {}
        exec(f"def f_{i}(spin):\n    return spin(0.004)\n", {}, ns)
        cpu[f"f_{i}"] = ns[f"f_{i}"](spin)
        del ns
        gc.collect()  # free-threaded builds free code objects at collection (deferred
        # reference counting): it is freed now, and the next one may take its address
    p = spprof.stop()
    check_identities(p.stats)
    got = p.functions(inclusive=True)
    # A POSIX timer's sample stands for all the CPU since the thread's previous one: at
    # HZ=250 up to a tick (4 intervals) of it may precede f_i, spent between two functions
    # (exec and gc.collect: 0.6 ms natively, inside the 2 of slack; 3.9 ms emulated, so
    # under qemu the slack is the tick). A misnamed successor would still add its 4 or more.
    slack = 4 if QEMU else 2
    over = {f: (got.get(f, 0), round(c * 1000 / interval_ms, 1)) for f, c in cpu.items()
            if got.get(f, 0) > c * 1000 / interval_ms + slack}
    assert not over, over  # a function never gets samples its CPU time cannot explain
    named = sum(got.get(f, 0) for f in cpu)
    freed = got.get("<freed code>", 0)
    assert named + freed >= 0.8 * sum(cpu.values()) * 1000 / interval_ms, (named, freed)


# ---- 6. a scan that stops early disarms nothing --------------------------------------------
def test_partial_scan_disarms_nothing():
    stop = threading.Event()
    out = {}

    def busy(i):
        out[i] = spin(0.3)

    ts = [threading.Thread(target=busy, args=(i,), name=f"b{i}") for i in range(6)]
    spprof.start(interval_ms=10)
    try:
        for t in ts:
            t.start()
        time.sleep(0.05)  # every thread is armed
        _native._test_scan_limit(2)  # from now on every scan sees 2 thread states only
        for t in ts:
            t.join()
    finally:
        _native._test_scan_limit(0)
        stop.set()
        p = spprof.stop()
    st = p.stats
    assert st["partial_scans"] > 0, st
    per_thread = {}
    for r in p.stacks:
        if any(f.function.endswith("busy") for f in r.frames):
            per_thread[r.native_thread_id] = per_thread.get(r.native_thread_id, 0) + r.count
    assert len(per_thread) == 6, per_thread
    for nid, n in per_thread.items():
        assert n >= 0.6 * 30, per_thread  # each thread kept its timer for its whole run


# ---- 7. thousands of threads ---------------------------------------------------------------
def test_more_than_4096_threads_are_all_sampled_or_counted():
    code = textwrap.dedent("""
        import threading, time
        import spprof
        threading.stack_size(256 * 1024)
        stop = threading.Event()
        ts = [threading.Thread(target=stop.wait) for _ in range(5000)]
        for t in ts: t.start()
        spprof.start(interval_ms=10)
        time.sleep(0.3)
        st = spprof.stats()
        stop.set()
        for t in ts: t.join()
        spprof.stop()
        print(st["threads_active"], st["threads_unsampled"], st["arm_failures"])
    """)
    r = run_child(code, timeout=180)
    assert r.returncode == 0, r.stderr[-2000:]
    active, unsampled, failures = map(int, r.stdout.split())
    assert active + unsampled >= 5001, r.stdout  # none silently left out
    if QEMU:
        assert active == QEMU_TIMER_MAX, r.stdout
        pytest.skip(f"all 5001 threads were sampled or counted as unsampled; not all sampled: "
                    f"{QEMU_TIMERS}")
    assert active >= 5001, r.stdout


# ---- 8. kernel time ------------------------------------------------------------------------
def stat_heavy(seconds):
    t0 = time.thread_time()
    while time.thread_time() - t0 < seconds:
        for _ in range(50):
            os.stat("/")
    return time.thread_time() - t0


def pure_python(seconds):
    t0 = time.thread_time()
    x = 0
    while time.thread_time() - t0 < seconds:
        for i in range(3000):
            x += i
    return time.thread_time() - t0


@pytest.mark.parametrize("timer_name", ["perf_event", "perf_event_user", "posix_cpu_timer"])
def test_kernel_time_lands_on_the_function_that_spent_it(monkeypatch, timer_name):
    """perf_event_user: perf counting user time only, as where perf_event_paranoid is 2; the
    kernel time it cannot place goes to <unsampled>, never to the next sample's stack."""
    if timer_name.startswith("perf_event") and not PERF_ALLOWED:
        pytest.skip(PERF_REFUSED)
    monkeypatch.setenv("SPPROF_TIMER", timer_name)
    spent = {"stat_heavy": 0.0, "pure_python": 0.0}
    spprof.start(interval_ms=1)
    for _ in range(100):
        spent["stat_heavy"] += stat_heavy(0.003)
        spent["pure_python"] += pure_python(0.003)
    p = spprof.stop()
    if timer_name == "perf_event" and not p.stats["timer_counts_kernel"]:
        pytest.skip("this kernel lets perf_event count user time only (perf_event_paranoid)")
    got = p.functions(inclusive=True)
    if timer_name == "perf_event_user":
        assert not p.stats["timer_counts_kernel"]
        assert got.get("<unsampled>", 0) == p.stats["samples_unsampled"] > 0, p.stats
        got["stat_heavy"] = got.get("stat_heavy", 0) + got.get("<unsampled>", 0)
        assert got.get("stat_heavy", 0) - got["<unsampled>"] <= 1.15 * spent["stat_heavy"] * 1000
    for f, cpu in spent.items():
        ratio = got.get(f, 0) / (cpu * 1000)
        assert 0.85 <= ratio <= 1.15, (f, ratio, got.get(f, 0), cpu, p.stats)


# ---- 10. very deep stacks ------------------------------------------------------------------
def test_deep_stack_sample_follows_a_bounded_number_of_frames():
    code = textwrap.dedent("""
        import sys
        from spprof import _native
        sys.setrecursionlimit(50000)
        def down(n):
            if n == 0:
                r = _native._bench(200, 256)
                print(r["frames_followed"], r["frames_emitted"], round(r["sample_ns"]))
                return
            down(n - 1)
        down(20000)
    """)
    r = run_child(code, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    followed, emitted, sample_ns = map(int, r.stdout.split())
    assert emitted == 256, r.stdout
    assert followed <= 4 * 256 + 8, r.stdout  # not the whole 20,000-frame chain


# ---- 11. exec() while profiling -------------------------------------------------------------
@pytest.mark.parametrize("timer_name", ["perf_event", "posix_cpu_timer"])
def test_sigprof_pending_at_exec_does_not_kill_the_new_program(timer_name):
    """A SIGPROF pending on the thread that calls exec stays pending in the new program,
    whose SIGPROF action is the default (terminate). SIGPROF is blocked here so that one is
    surely pending at the exec; the new program unblocks it."""
    if timer_name == "perf_event" and not PERF_ALLOWED:
        pytest.skip(PERF_REFUSED)
    code = textwrap.dedent("""
        import os, signal, sys, time
        import spprof
        spprof.start(interval_ms=1)
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGPROF})
        t0 = time.thread_time()
        while time.thread_time() - t0 < 0.05:
            sum(range(1000))
        assert signal.SIGPROF in signal.sigpending()
        os.execv(sys.executable, [sys.executable, "-c",
                 "import signal; signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGPROF}); "
                 "print('the new program runs')"])
    """)
    r = run_child(code, timeout=60, env_extra={"SPPROF_TIMER": timer_name})
    assert r.returncode == 0 and "the new program runs" in r.stdout, (r.returncode, r.stderr)


# ---- 9. memory per thread ------------------------------------------------------------------
def test_busy_threads_rings_stay_small():
    """At 1 ms a busy thread's ring wraps within a second at this depth, so every page of it
    is resident: 512 KiB per thread before (about 550 KiB of RSS each), 64 KiB now."""
    code = textwrap.dedent("""
        import os, threading, time
        import spprof
        PAGE = os.sysconf("SC_PAGE_SIZE")
        def rss():
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * PAGE
        stop = threading.Event()
        def spin():
            x = 0
            while not stop.is_set():
                for i in range(2000):
                    x += i
        def deep(n):  # 50 frames a sample: 51 cells, so the rings wrap within the run
            return spin() if n == 0 else deep(n - 1)
        if WARM_UP:  # under qemu: RSS grows by MBs as qemu first translates spprof's code
            spprof.start(interval_ms=1)
            t0 = time.thread_time()
            while time.thread_time() - t0 < 0.5:
                sum(range(2000))
            spprof.stop()
        ts = [threading.Thread(target=deep, args=(50,)) for _ in range(16)]
        for t in ts: t.start()
        time.sleep(0.5)
        base = rss()
        spprof.start(interval_ms=1)
        time.sleep(3)
        grown = rss() - base
        st = spprof.stop().stats
        stop.set()
        for t in ts: t.join()
        assert st["samples_captured"] > 2000, st
        print(grown // 16)
    """).replace("WARM_UP", str(QEMU))
    r = run_child(code, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert int(r.stdout) <= 128 * 1024, f"{int(r.stdout) / 1024:.0f} KiB per busy thread"
