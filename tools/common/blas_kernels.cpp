#include "blas_kernels.h"

#include <unistd.h>

#include <cstdlib>
#include <string_view>

extern "C" char* openblas_get_corename(void);

namespace mnemo::tools {

void use_native_blas_kernels(char** argv) {
  if (std::getenv("OPENBLAS_CORETYPE") != nullptr) return;  // the user's choice, or done
  const char* core = openblas_get_corename();
  if (core == nullptr || std::string_view(core) != "Prescott") return;
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) return;
  if (setenv("OPENBLAS_CORETYPE", "Haswell", 1) != 0) return;
  execv("/proc/self/exe", argv);
  unsetenv("OPENBLAS_CORETYPE");  // execv failed: carry on with the generic kernels
#else
  (void)argv;
#endif
}

}  // namespace mnemo::tools
