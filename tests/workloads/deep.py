"""Deep recursion: threads parked 350 and 900 frames down, plus mutual recursion."""
import sys

import parking


def recurse(n):
    if n == 0:
        parking.park()
    else:
        recurse(n - 1)


def ping(n):
    if n == 0:
        parking.park()
    else:
        pong(n - 1)


def pong(n):
    ping(n - 1) if n else parking.park()


def main(path):
    sys.setrecursionlimit(5000)
    workers = parking.start([(recurse, (350,)), (recurse, (900,)), (ping, (301,))])
    parking.report_and_park(path, workers)


if __name__ == "__main__":
    main(sys.argv[1])
