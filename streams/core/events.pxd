# Cython declarations for events.py (an "augmenting" .pxd, see streams/core/build.py): the event
# time in µs from the validated timestamp's fields, in C integers (years 1970-8999 keep every
# intermediate below 2^63).
cimport cython
from cpython.datetime cimport datetime

cdef long long _EPOCH_ORDINAL

@cython.locals(last=Py_UCS4, offset=cython.longlong, days=cython.longlong, seconds=cython.longlong)
cpdef long long _us_from_text(datetime at, str text) except? -1

@cython.locals(n=Py_ssize_t, items=list)
cpdef tuple decode_lines(lines, on_invalid, on_line=*)

@cython.locals(at=datetime, text=str)
cpdef tuple decode_event_at(raw, Py_ssize_t max_bytes=*)
