"""pprof's profile.proto (github.com/google/pprof/proto/profile.proto), gzipped: read by
``go tool pprof``, Pyroscope, Grafana and Polar Signals. Encoded here, a few varints and
length-delimited fields, so that spprof needs no protobuf package.

A Function is a (qualified name, display file), a Location one (function, line): address
0, in one mapping marked as symbolized (else pprof looks for a binary to symbolize it from,
and says "Main binary filename not available"). The system_name is left empty: pprof
"demangles" a function whose system name equals its name, and its C++ heuristics make
nothing of ``<module>``, ``<lambda>`` or ``<unsampled>``. A frame with no line (line
numbers off, pseudo-frames such as ``<truncated>``) has line 0, pprof's "unknown"; a
pseudo-frame has no file.

A sample lists its locations leaf first (pprof's order; the View's is root first), with the
values ``[samples, nanoseconds]`` of CPU (or wall) time. Every sample is labelled with its
thread: ``thread``, the display label, and ``thread_id``, the kernel tid as a number. So the
threads option changes nothing here: ``go tool pprof -tagroot=thread`` gives one root per
thread, ``-tagfocus=thread=NAME`` one thread."""
from __future__ import annotations

import gzip
from typing import Dict, List, Optional, Tuple

_MASK64 = (1 << 64) - 1


def _varint(n: int) -> bytes:
    n &= _MASK64  # a negative int64 is its 64-bit two's complement: ten bytes
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _int(field: int, n: int) -> bytes:
    # proto3 omits a scalar equal to its default (0); readers take a missing one as 0
    return _varint(field << 3) + _varint(n) if n else b""


def _bytes(field: int, data: bytes) -> bytes:
    return _varint(field << 3 | 2) + _varint(len(data)) + data


def _packed(field: int, ns) -> bytes:
    return _bytes(field, b"".join(_varint(n) for n in ns)) if ns else b""


def _utf8(text: str) -> bytes:
    try:
        # a file name undecodable in the file system's encoding gets its own bytes back
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace")  # a lone surrogate elsewhere: "?"


# profile.proto field numbers (only the ones written)
# Profile
_SAMPLE_TYPE, _SAMPLE, _MAPPING, _LOCATION, _FUNCTION, _STRING_TABLE = 1, 2, 3, 4, 5, 6
_TIME_NANOS, _DURATION_NANOS, _PERIOD_TYPE, _PERIOD = 9, 10, 11, 12
# ValueType: type 1, unit 2; Sample: location_id 1, value 2, label 3
# Label: key 1, str 2, num 3
# Mapping: id 1, filename 5, has_functions 7, has_filenames 8, has_line_numbers 9
# Location: id 1, mapping_id 2, line 4; Line: function_id 1, line 2
# Function: id 1, name 2, (system_name 3), filename 4


def render(view, duration_ns: Optional[int] = None, time_ns: Optional[int] = None) -> bytes:
    """The gzipped profile. ``duration_ns`` and ``time_ns`` (when sampling started, in
    nanoseconds since the epoch) are not in the View; given, they are written (Pyroscope
    files a profile under its time: without one it is 1970)."""
    strings: Dict[str, int] = {"": 0}  # string_table[0] must be ""

    def s(text: str) -> int:
        i = strings.get(text)
        if i is None:
            i = strings[text] = len(strings)
        return i

    def value_type(kind: str, unit: str) -> bytes:
        return _int(1, s(kind)) + _int(2, s(unit))

    kind = "cpu" if view.mode == "cpu" else "wall"
    period = int(round(view.interval_ms * 1e6))
    out = [_bytes(_SAMPLE_TYPE, value_type("samples", "count")),
           _bytes(_SAMPLE_TYPE, value_type(kind, "nanoseconds"))]

    functions: Dict[Tuple[str, str], int] = {}
    locations: Dict[Tuple[int, int], int] = {}
    loc_of: List[int] = []  # view frame index -> location id
    fn_msgs: List[bytes] = []
    loc_msgs: List[bytes] = []
    for fr in view.frames:
        fid = functions.get((fr.function, fr.file))
        if fid is None:
            fid = functions[(fr.function, fr.file)] = len(functions) + 1  # ids are nonzero
            fn_msgs.append(_int(1, fid) + _int(2, s(fr.function)) + _int(4, s(fr.file)))
        line = max(fr.line, 0)
        lid = locations.get((fid, line))
        if lid is None:
            lid = locations[(fid, line)] = len(locations) + 1
            loc_msgs.append(_int(1, lid) + _int(2, 1)
                            + _bytes(4, _int(1, fid) + _int(2, line)))
        loc_of.append(lid)

    # the two labels of each thread, encoded once
    thread_key, tid_key = s("thread"), s("thread_id")
    labels = [_bytes(3, _int(1, thread_key) + _int(2, s(view.thread_labels[i])))
              + _bytes(3, _int(1, tid_key) + _int(3, t.native_id))
              for i, t in enumerate(view.threads)]
    for smp in view.samples:
        ids = [loc_of[i] for i in reversed(smp.frames)]
        out.append(_bytes(_SAMPLE, _packed(1, ids)
                          + _packed(2, [smp.count, view.weight_ns(smp.count)])
                          + labels[smp.thread]))
    # the mapping's file is what pprof's header and web UI title call the program
    out.append(_bytes(_MAPPING, _int(1, 1) + _int(5, s("python")) + _int(7, 1) + _int(8, 1)
                      + _int(9, int(view.lineno))))
    out += [_bytes(_LOCATION, m) for m in loc_msgs]
    out += [_bytes(_FUNCTION, m) for m in fn_msgs]
    out.append(_int(_TIME_NANOS, time_ns or 0))
    out.append(_int(_DURATION_NANOS, duration_ns or 0))
    out.append(_bytes(_PERIOD_TYPE, value_type(kind, "nanoseconds")))
    out.append(_int(_PERIOD, period))
    out += [_bytes(_STRING_TABLE, _utf8(t)) for t in strings]  # last: every string is in
    # mtime=0: the same profile gives the same bytes
    return gzip.compress(b"".join(out), mtime=0)
