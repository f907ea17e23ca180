/* model_limits.c - the default limits and checked arithmetic (model_limits.h). */
#include "model_limits.h"

Limits tfc_limits = {
    .file_bytes = (int64_t)64 << 20,
    .expr_depth = 256,
    .name_bytes = 256,
    .string_bytes = 1000,
    .repeat_count = 100000,
    .nodes = 1000000,
    .statements = 10000000,
};

int64_t limit_mul(int64_t a, int64_t b, int64_t limit)
{
    if (a < 0 || b < 0)
        return -1;
    if (a != 0 && b > limit / a)
        return -1;
    return a * b;
}

int64_t limit_add(int64_t a, int64_t b, int64_t limit)
{
    if (a < 0 || b < 0 || a > limit - b)
        return -1;
    return a + b;
}
