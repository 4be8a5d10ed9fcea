"""Profile docs/examples/busy_threads.py's workers in-process with spprof, then print the
hottest stacks and the capture/drop figures.

    make ext PYTHON=python3.13t
    PYTHONPATH=python python3.13t docs/examples/profile_busy_threads.py [seconds] [out.json]
"""
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import busy_threads  # noqa: E402  (the workload: compute, parse_forever, crunch)

import spprof  # noqa: E402


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 2.0
    out = sys.argv[2] if len(sys.argv) > 2 else None
    print(f"Python {sys.version.split()[0]}, GIL {'enabled' if sys._is_gil_enabled() else 'disabled'}")
    spprof.start(interval_ms=1)
    for target in (busy_threads.compute, busy_threads.parse_forever, busy_threads.crunch):
        threading.Thread(target=target, name=target.__name__, daemon=True).start()
    time.sleep(seconds)
    profile = spprof.stop()
    st = profile.stats

    print(f"{st['samples_captured']} samples captured, {st['samples_dropped']} dropped "
          f"({st['timer_expirations']} timer expirations, timer {st['timer']})")
    print("dropped by reason:", st["dropped_by_reason"])
    print("\nhottest stacks (count, innermost frame first):")
    for rec in sorted(profile.stacks, key=lambda r: -r.count)[:5]:
        print(f"{rec.count:6d}  thread {rec.native_thread_id}")
        for f in rec.frames[:4]:
            print(f"          {f.function} ({os.path.basename(f.file)}:{f.line})")
    if out:
        profile.save(out)
        print(f"\nwrote {out} (open it at speedscope.app or with any speedscope viewer)")
    assert st["samples_captured"] + st["samples_dropped"] == st["timer_expirations"]


if __name__ == "__main__":
    main()
