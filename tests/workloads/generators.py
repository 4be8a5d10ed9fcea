"""Generators and coroutines driven on the stack: yield from chains, generator
expressions, async def awaited through a chain, an async generator, send() and next()."""
import sys

import parking


def gen_leaf():
    parking.park()
    yield 1


def gen_middle():
    yield from gen_leaf()


def gen_outer():
    yield (yield from gen_middle())


def drive_generator():
    next(gen_outer())


def drive_genexpr():
    # the generator expression's frame runs on top of sum()'s caller
    return sum(parking.park() or x for x in range(3))


async def coro_leaf():
    parking.park()


async def coro_middle():
    await coro_leaf()


async def coro_outer():
    return await coro_middle()


def drive_coroutine():
    coro_outer().send(None)


async def agen():
    parking.park()
    yield 1


def drive_async_generator():
    agen().asend(None).send(None)


def main(path):
    workers = parking.start([(drive_generator, ()), (drive_genexpr, ()),
                             (drive_coroutine, ()), (drive_async_generator, ())])
    parking.report_and_park(path, workers)


if __name__ == "__main__":
    main(sys.argv[1])
