/*
 * tmpdir.h - the temporary folder of the classify tests (test_classify.c
 * defines it; test_model.c, linked into the same executable, uses it too).
 */
#ifndef CX_TEST_CLASSIFY_TMPDIR_H
#define CX_TEST_CLASSIFY_TMPDIR_H

/* The folder's path once make_dir() has run (a suite's .init). */
extern char dir[];
void make_dir(void);
void remove_dir(void); /* the folder and all in it (a suite's .fini) */

#endif
