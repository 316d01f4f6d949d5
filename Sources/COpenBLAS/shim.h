#ifndef STARLING_COPENBLAS_SHIM_H
#define STARLING_COPENBLAS_SHIM_H
#include <cblas.h>
/* OpenBLAS extensions (declared in its cblas.h on Debian, repeated for other layouts). */
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
#endif
