// libFuzzer's entry point for programs that keep their own main (compiler-rt's
// FuzzerInterface.h); linked from libclang_rt.fuzzer by -sanitize=fuzzer.
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));
