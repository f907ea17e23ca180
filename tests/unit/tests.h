/*
 * tests.h - the unit test suites; test_main.c registers each with CUnit.
 */
#ifndef TFC_TESTS_H
#define TFC_TESTS_H

void register_kernel_tests(void);        /* test_kernels.c */
void register_safetensors_tests(void);   /* test_safetensors.c: also JSON, binding */
void register_frontend_tests(void);      /* test_frontend.c */
void register_verify_tests(void);        /* test_verify.c */
void register_text_tests(void);          /* test_text.c: samplers, tokenizers */
void register_hardening_tests(void);     /* test_hardening.c: hostile input */
void register_pool_tests(void);          /* test_pool.c */
void register_linear_tests(void);        /* test_linear.c: tfrt_linear, GEMV */
void register_q8_tests(void);            /* test_q8.c: int8 quantization and kernels */
void register_generate_tests(void);      /* test_generate.c: tfrt_generate, streams, penalty */
void register_vmath_tests(void);         /* test_vmath.c: exp, tanh, GELUs vs libm */

#endif
