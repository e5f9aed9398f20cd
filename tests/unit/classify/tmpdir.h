/*
 * tmpdir.h - the temporary folder of the classify tests, rule files in it,
 * and classifying one event (test_classify.c defines them; the other files
 * linked into the same executable use them too).
 */
#ifndef CX_TEST_CLASSIFY_TMPDIR_H
#define CX_TEST_CLASSIFY_TMPDIR_H

/* The folder's path once make_dir() has run (a suite's .init). */
extern char dir[];
void make_dir(void);
void remove_dir(void); /* the folder and all in it (a suite's .fini) */
/* Writes a rule file into the folder; returns its path (a static buffer per
 * slot, 0..3). */
const char *rule_file(int slot, const char *json);

#include "classify.h"

/* A classifier of the rules in json alone (fails the test on an error). */
cx_classifier *build(const char *json);
/* Classifies one event given as JSON into *tags. */
void run(const cx_classifier *clf, const char *json, cx_tags *tags);
/* Whether category c is assigned; whether ev is among c's evidence. */
int assigned(const cx_tags *t, cx_category c);
int has_evidence(const cx_tags *t, cx_category c, const char *ev);

#endif
