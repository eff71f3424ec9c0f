# Cython declarations for metrics.py (an "augmenting" .pxd, see streams/core/build.py): typed
# window cells and the per-record fold the live worker runs for every SLA record.
cimport cython

cdef class WindowAggregate:
    cdef public long long started, first_responses
    cdef public object first_response_sum_us
    cdef public object _fr_sketch
    cdef public long long responded_within_target, abandoned, resolved
    cdef public object resolution_sum_us
    cdef public object _res_sketch
    cdef public long long reopened
    cdef public dict sla
    cdef public long long csat_count, csat_sum
    cdef public list csat_hist
    cdef public long long late_events

cdef class MetricWindows:
    cdef public object window_us
    cdef public dict _windows
    cdef public object watermark
    cdef public object _open_from
    cdef public object late_events

    @cython.locals(agg=WindowAggregate, cells=dict)
    cpdef WindowAggregate _cell(self, t_us, tuple dims)
    @cython.locals(agg=WindowAggregate, sla=dict)
    cpdef observe_record(self, rec)
