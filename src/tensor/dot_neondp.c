/* dot_neondp.c — the NEON integer dot kernels of dot_neon_body.h built for ARMv8.2 with the
 * dot-product extension (SDOT; Makefile %_neondp.o: -march=armv8.2-a+dotprod). Compiled on
 * aarch64 only; dispatch.c calls them only when AT_HWCAP reports ASIMDDP. */
#define NEON_DOTPROD 1
#define NEON_NAME(x) tensor_neondp_##x
#include "tensor/dot_neon_body.h"
