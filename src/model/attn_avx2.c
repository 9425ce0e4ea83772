/* attn_avx2.c — the tiled attention kernels (attn_kernels.h) on 8 lanes of AVX2+FMA.
 * Built with the AVX2 flags (Makefile %_avx2.o rule); attention.c calls them only when the
 * tensor module chose AVX2 or AVX-512 (which checks the CPU). */
#include <string.h>

#include "model/attention.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define ATT_SFX avx2
#define ATT_VEC __m256
#define ATT_W 8
#define ATT_LOAD(p) _mm256_loadu_ps(p)
#define ATT_STORE(p, v) _mm256_storeu_ps(p, v)
#define ATT_SET1(x) _mm256_set1_ps(x)
#define ATT_ZERO() _mm256_setzero_ps()
#define ATT_FMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define ATT_MUL(a, b) _mm256_mul_ps(a, b)
#define ATT_SUB(a, b) _mm256_sub_ps(a, b)
#define ATT_ADD(a, b) _mm256_add_ps(a, b)
#define ATT_MAX(a, b) _mm256_max_ps(a, b)
#define ATT_DVEC __m256d
#define ATT_DW 4
#define ATT_DLOAD(p) _mm256_loadu_pd(p)
#define ATT_DSET1(x) _mm256_set1_pd(x)
#define ATT_DZERO() _mm256_setzero_pd()
#define ATT_DFMA(a, b, c) _mm256_fmadd_pd(a, b, c)
#define ATT_DSTORE_F(p, v) _mm_storeu_ps(p, _mm256_cvtpd_ps(v))
#define ATT_DLOAD_F(p) _mm256_cvtps_pd(_mm_loadu_ps(p))
#define ATT_DSTORE(p, v) _mm256_storeu_pd(p, v)
#include "model/attn_kernels.h"
#endif
