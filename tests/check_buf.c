/*
 * check_buf.c - bounded queues and their pool: bounds hold, order is
 * kept, storage goes back to the pool as soon as a queue drains.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "check_run.h"

START_TEST(test_empty_holds_nothing)
{
	struct buf_pool pool;
	struct buf b = { NULL, 0, 0 };

	ck_assert_int_eq(buf_pool_init(&pool, 4), 0);
	ck_assert(buf_empty(&b));
	ck_assert_uint_eq(buf_room(&b), BUF_SIZE);
	ck_assert_uint_eq(buf_append(&b, &pool, "abc", 3), 3);
	ck_assert_uint_eq(pool.inuse, 1);
	buf_consume(&b, &pool, 3);
	ck_assert_ptr_null(b.data);         /* returned at once */
	ck_assert_uint_eq(pool.inuse, 0);
	ck_assert_uint_eq(pool.nfree, 1);
	buf_pool_destroy(&pool);
}
END_TEST

START_TEST(test_bounded_and_ordered)
{
	struct buf_pool pool;
	struct buf b = { NULL, 0, 0 };
	uint8_t *src = malloc(3 * BUF_SIZE), *dst = malloc(3 * BUF_SIZE);
	size_t in = 0, out = 0;

	for (size_t i = 0; i < 3 * BUF_SIZE; i++)
		src[i] = (uint8_t)(i * 7 + (i >> 8));
	ck_assert_int_eq(buf_pool_init(&pool, 4), 0);
	/* Fill in odd-sized pieces, drain in other odd sizes. */
	while (out < 3 * BUF_SIZE) {
		while (in < 3 * BUF_SIZE && buf_room(&b) > 0) {
			size_t avail, n = 1000 + in % 777;
			uint8_t *p = buf_reserve(&b, &pool, &avail);
			ck_assert_ptr_nonnull(p);
			ck_assert_uint_gt(avail, 0);
			if (n > avail)
				n = avail;
			if (n > 3 * BUF_SIZE - in)
				n = 3 * BUF_SIZE - in;
			memcpy(p, src + in, n);
			buf_commit(&b, n);
			in += n;
			ck_assert_uint_le(buf_len(&b), BUF_SIZE);
		}
		size_t n = buf_len(&b) < 1333 ? buf_len(&b) : 1333;
		memcpy(dst + out, buf_head(&b), n);
		buf_consume(&b, &pool, n);
		out += n;
	}
	ck_assert(memcmp(src, dst, 3 * BUF_SIZE) == 0);
	ck_assert_uint_eq(pool.inuse, 0);
	buf_pool_destroy(&pool);
	free(src);
	free(dst);
}
END_TEST

START_TEST(test_pool_keeps_at_most_maxfree)
{
	struct buf_pool pool;
	struct buf b[6];

	memset(b, 0, sizeof b);
	ck_assert_int_eq(buf_pool_init(&pool, 2), 0);
	for (int i = 0; i < 6; i++)
		ck_assert_uint_eq(buf_append(&b[i], &pool, "x", 1), 1);
	ck_assert_uint_eq(pool.inuse, 6);
	for (int i = 0; i < 6; i++)
		buf_release(&b[i], &pool);
	ck_assert_uint_eq(pool.inuse, 0);
	ck_assert_uint_eq(pool.nfree, 2);
	buf_pool_destroy(&pool);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("buf");
	TCase *tc = tcase_create("buf");

	tcase_add_test(tc, test_empty_holds_nothing);
	tcase_add_test(tc, test_bounded_and_ordered);
	tcase_add_test(tc, test_pool_keeps_at_most_maxfree);
	suite_add_tcase(s, tc);
	return check_run(s);
}
