"""Runs until a signal: hot_loop forever, after printing "ready"."""
import sys
import time


def hot_loop():
    x = 0
    while True:
        for i in range(5000):
            x += i


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "nondaemon":
        import threading
        threading.Thread(target=lambda: time.sleep(0.5), name="late").start()
    print("ready", flush=True)
    hot_loop()
