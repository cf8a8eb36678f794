/* replay.c - replay memory: a ring buffer of 8-byte Taxi transitions.
 *
 * Index 0 is always the oldest stored transition. Sampling draws only from
 * the `size` written slots. Without replacement it uses Floyd's algorithm
 * (n draws, a small hash set) and then shuffles, so a minibatch costs O(n)
 * whatever the capacity. */
#include "cldqn/replay.h"
#include "cldqn/taxi.h"

#include <stdlib.h>
#include <string.h>

_Static_assert(sizeof(cldqn_transition) == 8, "a transition must stay 8 bytes");

struct cldqn_replay {
    cldqn_transition *items; /* (capacity,) */
    size_t capacity;
    size_t size;
    size_t head; /* slot of the oldest transition */
    uint64_t pushed;
};

cldqn_status cldqn_replay_create(size_t capacity, cldqn_replay **out)
{
    if (!out) return cldqn_fail(CLDQN_ERR_ARG, "replay: out is NULL");
    *out = NULL;
    if (capacity < CLDQN_REPLAY_MIN_CAPACITY || capacity > CLDQN_REPLAY_MAX_CAPACITY)
        return cldqn_fail(CLDQN_ERR_ARG, "replay capacity %zu not in [%d,%u]", capacity,
                          CLDQN_REPLAY_MIN_CAPACITY, CLDQN_REPLAY_MAX_CAPACITY);
    cldqn_replay *rb = calloc(1, sizeof *rb);
    if (!rb) return cldqn_fail(CLDQN_ERR_NOMEM, "replay: out of memory");
    rb->items = malloc(capacity * sizeof *rb->items);
    if (!rb->items) {
        free(rb);
        return cldqn_fail(CLDQN_ERR_NOMEM, "replay: cannot allocate %zu transitions", capacity);
    }
    rb->capacity = capacity;
    *out = rb;
    return CLDQN_OK;
}

void cldqn_replay_free(cldqn_replay *rb)
{
    if (!rb) return;
    free(rb->items);
    free(rb);
}

void cldqn_replay_clear(cldqn_replay *rb)
{
    rb->size = 0;
    rb->head = 0;
    rb->pushed = 0;
}

size_t cldqn_replay_capacity(const cldqn_replay *rb)
{
    return rb->capacity;
}
size_t cldqn_replay_size(const cldqn_replay *rb)
{
    return rb->size;
}
uint64_t cldqn_replay_pushed(const cldqn_replay *rb)
{
    return rb->pushed;
}

void cldqn_replay_push(cldqn_replay *rb, const cldqn_transition *t)
{
    size_t slot = rb->head + rb->size;
    if (slot >= rb->capacity) slot -= rb->capacity;
    rb->items[slot] = *t;
    if (rb->size < rb->capacity)
        rb->size++;
    else if (++rb->head == rb->capacity) /* full: the oldest was overwritten */
        rb->head = 0;
    rb->pushed++;
}

const cldqn_transition *cldqn_replay_get(const cldqn_replay *rb, size_t i)
{
    if (i >= rb->size) return NULL;
    size_t slot = rb->head + i;
    if (slot >= rb->capacity) slot -= rb->capacity;
    return &rb->items[slot];
}

/* Open-addressing set of uint32 (value + 1 stored, 0 = empty). */
static int set_insert(uint32_t *table, size_t mask, uint32_t v)
{
    size_t h = ((size_t)v * 2654435761u) & mask;
    while (table[h]) {
        if (table[h] == v + 1) return 0;
        h = (h + 1) & mask;
    }
    table[h] = v + 1;
    return 1;
}

cldqn_status cldqn_replay_sample(const cldqn_replay *rb, cldqn_rng *rng, size_t n,
                                 int with_replacement, uint32_t *idx)
{
    if (!rb || !rng || (n > 0 && !idx)) return cldqn_fail(CLDQN_ERR_ARG, "replay sample: NULL");
    if (rb->size == 0) return cldqn_fail(CLDQN_ERR_ARG, "replay sample from an empty memory");
    uint32_t size = (uint32_t)rb->size; /* capacity <= 1e8 fits */
    if (with_replacement) {
        for (size_t i = 0; i < n; i++) idx[i] = cldqn_rng_below(rng, size);
        return CLDQN_OK;
    }
    if (n > rb->size)
        return cldqn_fail(CLDQN_ERR_ARG, "cannot sample %zu distinct of %zu transitions", n,
                          rb->size);
    if (n == 0) return CLDQN_OK;
    size_t tsize = 16;
    while (tsize < 2 * n) tsize <<= 1;
    uint32_t stack_table[1024];
    uint32_t *table = tsize <= 1024 ? stack_table : calloc(tsize, sizeof *table);
    if (!table) return cldqn_fail(CLDQN_ERR_NOMEM, "replay sample: out of memory");
    if (table == stack_table) memset(stack_table, 0, tsize * sizeof *table);
    /* Floyd: for j = size-n .. size-1 draw t in [0, j]; take t, or j if t is taken.
     * Every n-subset is equally likely. */
    size_t k = 0;
    for (uint32_t j = size - (uint32_t)n; j < size; j++) {
        uint32_t t = cldqn_rng_below(rng, j + 1);
        if (!set_insert(table, tsize - 1, t)) {
            set_insert(table, tsize - 1, j);
            t = j;
        }
        idx[k++] = t;
    }
    /* Floyd's output order is not uniform (j tends to come late); shuffle. */
    for (size_t i = n - 1; i > 0; i--) {
        size_t r = cldqn_rng_below(rng, (uint32_t)(i + 1));
        uint32_t tmp = idx[i];
        idx[i] = idx[r];
        idx[r] = tmp;
    }
    if (table != stack_table) free(table);
    return CLDQN_OK;
}

cldqn_status cldqn_replay_snapshot(const cldqn_replay *rb, cldqn_transition *items)
{
    if (!rb || (rb->size && !items)) return cldqn_fail(CLDQN_ERR_ARG, "replay snapshot: NULL");
    size_t first = rb->capacity - rb->head; /* slots from head to the end */
    if (first > rb->size) first = rb->size;
    memcpy(items, rb->items + rb->head, first * sizeof *items);
    memcpy(items + first, rb->items, (rb->size - first) * sizeof *items);
    return CLDQN_OK;
}

cldqn_status cldqn_replay_restore(cldqn_replay *rb, const cldqn_transition *items, size_t n,
                                  uint64_t pushed)
{
    if (!rb || (n && !items)) return cldqn_fail(CLDQN_ERR_ARG, "replay restore: NULL");
    if (n > rb->capacity)
        return cldqn_fail(CLDQN_ERR_ARG, "replay restore: %zu transitions exceed capacity %zu", n,
                          rb->capacity);
    /* Until the ring is full every push is stored: the counts must agree. */
    if (pushed < n || (n < rb->capacity && pushed != n))
        return cldqn_fail(CLDQN_ERR_FORMAT,
                          "replay memory: %llu transitions pushed but %zu stored (capacity %zu)",
                          (unsigned long long)pushed, n, rb->capacity);
    for (size_t i = 0; i < n; i++)
        if (items[i].state >= CLDQN_TAXI_STATES || items[i].next_state >= CLDQN_TAXI_STATES ||
            items[i].action >= CLDQN_TAXI_ACTIONS)
            return cldqn_fail(CLDQN_ERR_FORMAT, "replay restore: transition %zu is not Taxi's", i);
    memcpy(rb->items, items, n * sizeof *items);
    rb->size = n;
    rb->head = 0;
    rb->pushed = pushed;
    return CLDQN_OK;
}

void cldqn_replay_nstep(const cldqn_replay *rb, size_t i, int n, size_t n_envs, float gamma,
                        float *ret, float *disc, const cldqn_transition **last)
{
    const size_t size = cldqn_replay_size(rb);
    float r = 0.0f, d = 1.0f;
    const cldqn_transition *tr;
    for (int k = 0;; k++) {
        tr = cldqn_replay_get(rb, i + (size_t)k * n_envs);
        r += d * (float)tr->reward;
        d *= gamma;
        if (k + 1 >= n || tr->terminated || (tr->flags & CLDQN_TRANSITION_TRUNCATED) ||
            i + (size_t)(k + 1) * n_envs >= size)
            break;
    }
    *ret = r;
    *disc = d;
    *last = tr;
}
