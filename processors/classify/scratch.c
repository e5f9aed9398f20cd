/*
 * scratch.c - the classifier's per-thread working memory (see model.h):
 * token arrays and word caches, about 1.4 MB in all, made when a thread
 * first classifies and freed when it ends. As static thread-local storage
 * they were given to every thread of the process, each HTTP connection's
 * and librdkafka's included, none of which ever classifies.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "model.h"

static __thread void *parts[CX_SCRATCH_PARTS];
static pthread_key_t key; /* its destructor frees a thread's parts */
static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static int key_made;

static void free_parts(void *p)
{
    void **v = p;
    for (int i = 0; i < CX_SCRATCH_PARTS; i++) {
        free(v[i]);
        v[i] = NULL;
    }
}

static void make_key(void)
{
    key_made = pthread_key_create(&key, free_parts) == 0;
}

void *cx__scratch(cx_scratch_part part, size_t size)
{
    if (parts[part] != NULL)
        return parts[part];
    pthread_once(&key_once, make_key);
    void *p = calloc(1, size);
    if (p == NULL || !key_made || pthread_setspecific(key, parts) != 0) {
        /* classifying promises a result, so this cannot be reported */
        char what[96];
        snprintf(what, sizeof what, "for the classifier's working memory (%zu bytes)", size);
        cx_out_of_memory(what);
    }
    parts[part] = p;
    return p;
}
