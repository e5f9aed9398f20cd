/*
 * tmpdir.h - the temporary folder of the classify tests and rule files in it
 * (test_classify.c defines them; test_model.c, linked into the same
 * executable, uses them too).
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

#endif
