# Cython declarations for records.py (an "augmenting" .pxd, see streams/core/build.py): record
# times formatted with C integers (µs within datetime's range stay far below 2^63).
cimport cython

@cython.locals(sec=cython.longlong, frac=cython.longlong, day=cython.longlong,
               second=cython.longlong, h=cython.longlong, m=cython.longlong)
cpdef str _rfc3339(long long us)
