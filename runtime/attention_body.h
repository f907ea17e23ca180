/*
 * attention_body.h - the inner loop of tfrt_attention, once per ISA
 * (internal; attention.c includes it three times).
 *
 * Before each inclusion attention.c defines:
 *   ATT_SUFFIX            the version's name suffix (c, avx2, avx512)
 *   ATT_TARGET            its target attribute (empty for C)
 *   ATT_DOT(a, b, n)      a (n,) . b (n,)
 *   ATT_AXPY(y, p, x, n)  y (n,) += p x (n,)
 *   ATT_SCALE(y, c, n)    y (n,) *= c
 *   ATT_EXP(s, n, m)      s[j] = e^(s[j] - m) for j < n; returns their sum
 *
 * One unit of work is a run of query rows [i0, i1) and query heads [h0,
 * h1) that share the key/value head g.  For each query row the keys are
 * visited in blocks of BLOCK with an online softmax (see attention.c);
 * each key and value row is loaded once for all the unit's heads, which
 * is what grouped-query attention saves in a decoding step.  With a
 * recorder (u->rec), each row's scores are kept and turned into the
 * probabilities at the row's end (attention.c, rec_*).
 */

#define ATT_CAT_(a, b) a##_##b
#define ATT_CAT(a, b) ATT_CAT_(a, b)

static ATT_TARGET void ATT_CAT(attend_unit, ATT_SUFFIX)(const AttUnit *u, int i0, int i1,
                                                       int h0, int h1)
{
    const TfrtAttention *a = u->a;
    int hd = a->head_dim, nh = h1 - h0, g = h0 / (a->heads / a->kv_heads);
    const float *k = u->k + (size_t)g * hd, *v = u->v + (size_t)g * hd;
    float acc[MAX_UNIT_HEADS][TFRT_MAX_HEAD_DIM];
    float s[MAX_UNIT_HEADS][BLOCK];
    float m[MAX_UNIT_HEADS], l[MAX_UNIT_HEADS];
    for (int i = i0; i < i1; i++) {
        int nkeys = key_limit(a, i), qpos = a->q_pos0 + i;
        const float *q = u->q + (size_t)i * a->q_stride + (size_t)h0 * hd;
        float *out = u->out + (size_t)i * a->out_stride + (size_t)h0 * hd;
        if (nkeys == 0) {
            memset(out, 0, sizeof(float) * (size_t)nh * hd);
            for (int h = 0; u->rec && h < nh; h++)
                rec_finish(u, h0 + h, i, 0, 0.0f, 1.0f);
            continue;
        }
        for (int h = 0; h < nh; h++) {
            m[h] = -INFINITY;
            l[h] = 0.0f;
            memset(acc[h], 0, sizeof(float) * (size_t)hd);
        }
        for (int j0 = 0; j0 < nkeys; j0 += BLOCK) {
            int nb = nkeys - j0 < BLOCK ? nkeys - j0 : BLOCK;
            for (int j = 0; j < nb; j++) {
                const float *kj = k + (size_t)(j0 + j) * a->kv_stride;
                for (int h = 0; h < nh; h++)
                    s[h][j] = a->scale * ATT_DOT(q + (size_t)h * hd, kj, hd)
                            + rel_bias(u->rel, qpos, j0 + j, h0 + h);
            }
            for (int h = 0; u->rec && h < nh; h++)
                rec_scores(u, h0 + h, i, j0, s[h], nb);
            for (int h = 0; h < nh; h++) {
                float bmax = s[h][0];
                for (int j = 1; j < nb; j++)
                    bmax = s[h][j] > bmax ? s[h][j] : bmax;
                if (bmax > m[h]) {
                    float c = tfrt_exp1(m[h] - bmax);   /* 0 on the first block */
                    ATT_SCALE(acc[h], c, hd);
                    l[h] *= c;
                    m[h] = bmax;
                }
                l[h] += ATT_EXP(s[h], nb, m[h]);
            }
            for (int j = 0; j < nb; j++) {
                const float *vj = v + (size_t)(j0 + j) * a->kv_stride;
                for (int h = 0; h < nh; h++)
                    ATT_AXPY(acc[h], s[h][j], vj, hd);
            }
        }
        for (int h = 0; h < nh; h++) {
            memcpy(out + (size_t)h * hd, acc[h], sizeof(float) * (size_t)hd);
            ATT_SCALE(out + (size_t)h * hd, 1.0f / l[h], hd);
        }
        for (int h = 0; u->rec && h < nh; h++)
            rec_finish(u, h0 + h, i, nkeys, m[h], l[h]);
    }
}

#undef ATT_CAT
#undef ATT_CAT_
