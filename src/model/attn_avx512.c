/* attn_avx512.c — the tiled attention kernels (attn_kernels.h) on 16 lanes of AVX-512F.
 * Built with the AVX-512 flags (Makefile %_avx512.o rule); attention.c calls them only when
 * the tensor module chose AVX-512 (which checks the CPU). */
#include <string.h>

#include "model/attention.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define ATT_SFX avx512
#define ATT_VEC __m512
#define ATT_W 16
#define ATT_LOAD(p) _mm512_loadu_ps(p)
#define ATT_STORE(p, v) _mm512_storeu_ps(p, v)
#define ATT_SET1(x) _mm512_set1_ps(x)
#define ATT_ZERO() _mm512_setzero_ps()
#define ATT_FMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define ATT_MUL(a, b) _mm512_mul_ps(a, b)
#define ATT_SUB(a, b) _mm512_sub_ps(a, b)
#define ATT_ADD(a, b) _mm512_add_ps(a, b)
#define ATT_MAX(a, b) _mm512_max_ps(a, b)
#define ATT_DVEC __m512d
#define ATT_DW 8
#define ATT_DLOAD(p) _mm512_loadu_pd(p)
#define ATT_DSET1(x) _mm512_set1_pd(x)
#define ATT_DZERO() _mm512_setzero_pd()
#define ATT_DFMA(a, b, c) _mm512_fmadd_pd(a, b, c)
#define ATT_DSTORE_F(p, v) _mm256_storeu_ps(p, _mm512_cvtpd_ps(v))
#define ATT_DLOAD_F(p) _mm512_cvtps_pd(_mm256_loadu_ps(p))
#define ATT_DSTORE(p, v) _mm512_storeu_pd(p, v)
#include "model/attn_kernels.h"
#endif
