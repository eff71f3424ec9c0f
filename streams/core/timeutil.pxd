# Cython declarations for timeutil.py (an "augmenting" .pxd, see streams/core/build.py): RFC 3339
# text of an instant in C integers (µs within datetime's range stay far below 2^63).
cimport cython

@cython.locals(sec=cython.longlong, frac=cython.longlong, day=cython.longlong,
               second=cython.longlong, h=cython.longlong, m=cython.longlong)
cpdef str format_us(long long us)
