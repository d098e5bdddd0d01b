// OpenBLAS picks its kernels from the CPU's model number when it loads. On CPUs it does
// not know (new models, some virtual machines) it falls back to its generic "Prescott"
// kernels, several times slower for the GEMMs training runs on, even where the CPU has
// AVX2 and FMA. The choice can only be overridden by OPENBLAS_CORETYPE before the
// library loads, so a program that wants fast GEMMs re-executes itself with it set.
#pragma once

namespace mnemo::tools {

// When OpenBLAS fell back to its generic kernels on a CPU with AVX2 and FMA and the user
// did not choose a core type, re-executes the running program (argv unchanged) with
// OPENBLAS_CORETYPE=Haswell; returns (doing nothing) otherwise or if the re-exec fails.
// Call it first thing in main, before any thread starts.
void use_native_blas_kernels(char** argv);

}  // namespace mnemo::tools
