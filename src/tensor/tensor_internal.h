/* tensor_internal.h — shared between the tensor module's own files only. */
#ifndef HEARTH_TENSOR_INTERNAL_H
#define HEARTH_TENSOR_INTERNAL_H

#include "tensor/tensor.h"

/* Fills t->to_float / from_float / vec_dot / vec_dot_type for the types with reference kernels
 * (quant_ref.c); leaves the others NULL. */
void tensor_kernels_attach(tensor_type type, tensor_traits *t);

#endif
