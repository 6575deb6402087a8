/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Small helpers shared by the kvmbusd unit tests (header-only, static).
 */
#ifndef KVMBUSD_TEST_HELPERS_H
#define KVMBUSD_TEST_HELPERS_H

#include <dirent.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

/* Open fds of this process, from /proc/self/fd. */
static inline int count_fds(void)
{
	struct dirent *de;
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;	/* the DIR's own fd */
}

/* A fresh private directory; free the result with rm_tmpdir(). */
static inline char *make_tmpdir(void)
{
	const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	char *dir;

	assert_true(asprintf(&dir, "%s/kvmbusd-test.XXXXXX", base) > 0);
	assert_non_null(mkdtemp(dir));
	return dir;
}

static inline char *tmp_path(const char *dir, const char *name)
{
	char *p;

	assert_true(asprintf(&p, "%s/%s", dir, name) > 0);
	return p;
}

static inline void rm_tmpdir(char *dir)
{
	assert_int_equal(rmdir(dir), 0);
	free(dir);
}

#endif /* KVMBUSD_TEST_HELPERS_H */
