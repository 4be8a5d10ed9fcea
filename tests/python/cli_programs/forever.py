"""Runs until a signal: hot_loop forever, after printing "ready".

argv[1] "waiter": a thread waits forever beside the main thread; "nondaemon": a non-daemon
thread still runs at exit; "blocked": the main thread
blocks SIGTERM and waits forever while another thread runs hot_loop, so only another thread
can take the signal (and "ready" says whether SIGTERM looks untouched to the program).
"""
import signal
import sys
import threading
import time


def hot_loop():
    x = 0
    while True:
        for i in range(5000):
            x += i


if __name__ == "__main__":
    mode = sys.argv[1] if len(sys.argv) > 1 else ""
    if mode == "waiter":  # a thread that waits for good beside the hot main thread
        threading.Thread(target=threading.Event().wait, name="waiter", daemon=True).start()
    if mode == "nondaemon":
        threading.Thread(target=lambda: time.sleep(0.5), name="late").start()
    if mode == "blocked":
        signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGTERM])
        threading.Thread(target=hot_loop, name="hot", daemon=True).start()
        print("ready", signal.getsignal(signal.SIGTERM) == signal.SIG_DFL, flush=True)
        threading.Event().wait()
    print("ready", flush=True)
    hot_loop()
