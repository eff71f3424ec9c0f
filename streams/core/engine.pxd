# Cython declarations for engine.py (an "augmenting" .pxd): with them, `make install` compiles
# engine.py unchanged into C with typed classes. engine.py stays the one source and runs as
# plain Python wherever the build is unavailable (SLAWATCH_PURE_PYTHON=1 forces that).

cimport cython

cdef class Clock:
    cdef public Entity entity
    cdef public str metric
    cdef public object cycle
    cdef public object policy
    cdef public object target
    cdef public int state
    cdef public object seg_start
    cdef public object seg_elapsed
    cdef public object breached_at
    cdef public tuple warned
    cdef public object sched
    cdef public str outcome

cdef class Entity:
    cdef public str kind
    cdef public str id
    cdef public object channel, priority, customer_tier, category, queue, group
    cdef public object assignee, last_agent
    cdef public object start
    cdef public object policy
    cdef public Clock first_response, next_response, assignment, resolution
    cdef public bint responded
    cdef public object waiting_since
    cdef public object nr_cycles
    cdef public str status
    cdef public bint assigned
    cdef public list pauses
    cdef public bytes seen
    cdef public object ended_at

cdef class EngineStats:
    cdef public long long applied, duplicates, orphans, after_end, late, records

cdef class SlaEngine:
    cdef public object policies
    cdef public dict entities
    cdef public object now
    cdef public EngineStats stats
    cdef public dict _ended
    cdef public set dirty
    cdef list _heap
    cdef dict _buckets
    cdef list _bucket_heap
    cdef object _near
    cdef object _seq
    cdef list _out
    cdef dict _handlers

    @cython.locals(entity=Entity, seen=bytes, h=bytes)
    cpdef bint apply(self, event, t) except -1
    @cython.locals(i=Py_ssize_t)
    cpdef apply_items(self, list items, Py_ssize_t stop)
    @cython.locals(clock=Clock, bucket=list)
    cdef _promote(self, upto)
    @cython.locals(clock=Clock, heap=list)
    cdef _fire(self, t)
    cdef _next_threshold(self, Clock clock)
    @cython.locals(bucket=list)
    cdef _schedule(self, Clock clock)
    cdef _threshold(self, Clock clock, due)
    @cython.locals(e=Entity)
    cdef _emit(self, Clock clock, str status, at, elapsed, deadline, agent=*, fraction=*)
    cdef _start(self, Entity entity, str metric, t, elapsed=*, cycle=*, bint paused=*)
    cdef _stop(self, Clock clock, t, agent=*)
    cdef _end(self, Clock clock, t, elapsed, str status, agent=*)
    cdef _cancel(self, Clock clock, t, str status=*)
    cdef _pause(self, Clock clock, t)
    cdef _resume(self, Clock clock, t)
    cdef _retarget(self, Clock clock, t, policy)
    cdef _assign_policy(self, Entity entity)
    @cython.locals(clock=Clock)
    cdef _rematch(self, Entity entity, t)
    cdef _start_from_entity_start(self, Entity entity, str metric, t)
    @cython.locals(clock=Clock)
    cdef Clock _running(self, Entity entity, str metric)
    cdef _customer_message(self, Entity entity, t)
    @cython.locals(clock=Clock)
    cdef _reply(self, Entity entity, t, agent)
    cdef _message(self, Entity entity, t, role, author_id)
    @cython.locals(e=Entity)
    cdef Entity _create(self, ev, t)
    cpdef _conversation_message(self, Entity e, ev, t)
    cpdef _conversation_assigned(self, Entity e, ev, t)
    cpdef _conversation_transferred(self, Entity e, ev, t)
    @cython.locals(clock=Clock)
    cpdef _conversation_ended(self, Entity e, ev, t)
    @cython.locals(clock=Clock)
    cpdef _ticket_assigned(self, Entity e, ev, t)
    cpdef _ticket_priority_changed(self, Entity e, ev, t)
    cpdef _ticket_comment(self, Entity e, ev, t)
    @cython.locals(clock=Clock, other=Clock)
    cpdef _ticket_status_changed(self, Entity e, ev, t)
    @cython.locals(clock=Clock)
    cdef _reopen(self, Entity e, t, bint paused)
