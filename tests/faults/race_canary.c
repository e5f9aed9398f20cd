/*
 * race_canary.c - a program that MUST be reported: two threads add to one
 * int without a lock. tests/faults/races.sh builds it with ThreadSanitizer
 * and the options it runs cxpulse with, and fails if the race goes
 * unreported, so that a sanitizer or options that stop seeing races cannot
 * leave that check passing without looking.
 */
#include <pthread.h>
#include <stdio.h>

static int shared;

static void *add(void *arg)
{
    (void)arg;
    for (int i = 0; i < 1000; i++)
        shared++;
    return NULL;
}

int main(void)
{
    pthread_t a, b;
    if (pthread_create(&a, NULL, add, NULL) != 0 || pthread_create(&b, NULL, add, NULL) != 0)
        return 2;
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    printf("%d\n", shared);
    return 0;
}
