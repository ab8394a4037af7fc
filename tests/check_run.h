/*
 * check_run.h - how every Check suite of the tree is run: the suite's
 * main() builds its Suite and returns check_run(suite).
 */
#ifndef VENCRYPTD_CHECK_RUN_H
#define VENCRYPTD_CHECK_RUN_H

#include <check.h>
#include <stdlib.h>

/* Runs every test of s (freeing s); EXIT_SUCCESS only if none failed. */
static inline int
check_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

#endif
