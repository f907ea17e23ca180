/*
 * test_main.c - runs every CUnit suite; exits non-zero if any test fails.
 */
#include <stdio.h>

#include <CUnit/Basic.h>

#include "tests.h"

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS) {
        fprintf(stderr, "unit_tests: %s\n", CU_get_error_msg());
        return 2;
    }
    register_kernel_tests();
    register_pool_tests();
    register_linear_tests();
    register_q8_tests();
    register_vmath_tests();
    register_safetensors_tests();
    register_frontend_tests();
    register_verify_tests();
    register_text_tests();
    register_generate_tests();
    register_hardening_tests();
    if (CU_get_error() != CUE_SUCCESS) {
        fprintf(stderr, "unit_tests: registering tests: %s\n", CU_get_error_msg());
        CU_cleanup_registry();
        return 2;
    }
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_tests_failed() + CU_get_number_of_failures();
    CU_ErrorCode run_error = CU_get_error();
    CU_cleanup_registry();
    return failed != 0 || run_error != CUE_SUCCESS;
}
