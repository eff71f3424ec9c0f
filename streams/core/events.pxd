# Cython declarations for events.py (an "augmenting" .pxd, see streams/core/build.py): the event
# time in µs from the validated timestamp's fields, in C integers (years 1970-8999 keep every
# intermediate below 2^63).
cimport cython
from cpython.datetime cimport datetime

@cython.locals(offset=cython.longlong)
cpdef long long _us_from_text(datetime at, str text) except? -1

@cython.locals(n=Py_ssize_t, items=list)
cpdef tuple decode_lines(lines, on_invalid, on_line=*)
