/* test_status.c - the last-error mechanism every module reports through. */
#include <string.h>

#include "cldqn/status.h"
#include "harness.h"

static void test_fail_records_message(void)
{
    cldqn_clear_error();
    CU_ASSERT_STRING_EQUAL(cldqn_last_error(), "");
    cldqn_status st = cldqn_fail(CLDQN_ERR_ARG, "gamma %.1f not in [0,1]", 1.5);
    CU_ASSERT_EQUAL(st, CLDQN_ERR_ARG);
    CU_ASSERT_STRING_EQUAL(cldqn_last_error(), "gamma 1.5 not in [0,1]");
    CU_ASSERT_STRING_EQUAL(cldqn_status_name(CLDQN_ERR_IO), "CLDQN_ERR_IO");
}

int register_suites(void)
{
    static const harness_test tests[] = {{"fail records message", test_fail_records_message},
                                         {NULL, NULL}};
    return harness_add_suite("status", NULL, NULL, tests);
}
