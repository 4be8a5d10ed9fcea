"""Many threads (64), each parked at a depth of its own."""
import sys

import parking


def level(n):
    if n == 0:
        parking.park()
    else:
        level(n - 1)


def main(path):
    workers = parking.start([(level, (i % 13 * 3,)) for i in range(64)])
    parking.report_and_park(path, workers)


if __name__ == "__main__":
    main(sys.argv[1])
