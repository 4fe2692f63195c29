# Compiler settings shared by every target: link hikyaku_settings PRIVATE.
option(HIKYAKU_WERROR "Treat warnings as errors" OFF)
set(HIKYAKU_SANITIZE "" CACHE STRING "Sanitizers to build with: address,undefined | thread | empty")
option(HIKYAKU_THREAD_SAFETY "clang -Wthread-safety -Werror" OFF)

add_library(hikyaku_settings INTERFACE)
target_compile_options(hikyaku_settings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Woverloaded-virtual -Wold-style-cast
  $<$<CONFIG:Debug>:-D_GLIBCXX_ASSERTIONS>)
if(HIKYAKU_WERROR)
  target_compile_options(hikyaku_settings INTERFACE -Werror)
endif()
if(HIKYAKU_THREAD_SAFETY)
  target_compile_options(hikyaku_settings INTERFACE -Wthread-safety -Werror)
endif()
option(HIKYAKU_FUZZ "Build the libFuzzer targets of fuzz/ (clang only; make fuzz)" OFF)
if(HIKYAKU_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "HIKYAKU_FUZZ needs clang (CMAKE_CXX_COMPILER=clang++)")
  endif()
  # Coverage instrumentation everywhere; the fuzz targets link libFuzzer's main themselves.
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()
if(HIKYAKU_SANITIZE)
  # Applied globally so that every object, tests and GoogleTest's main included, agrees.
  add_compile_options(-fsanitize=${HIKYAKU_SANITIZE} -fno-sanitize-recover=all -fno-omit-frame-pointer)
  add_link_options(-fsanitize=${HIKYAKU_SANITIZE})
endif()

# simdjson's On-Demand API is compiled into our code for one instruction set chosen at compile
# time; Debian's baseline x86-64 flags select its slow "fallback" kernel. When the build machine
# has AVX2 (checked by running a probe), build for Haswell-class CPUs so On-Demand uses its fast
# kernel; such a program refuses to start, with a clear message, on a CPU without AVX2
# (src/core/cpu_guard.cc). HIKYAKU_PORTABLE=ON (or HIKYAKU_NATIVE=OFF) builds a binary for any
# x86-64, as a package build needs.
option(HIKYAKU_PORTABLE "Build for any x86-64 CPU (a package build): no -march=haswell" OFF)
set(HIKYAKU_NATIVE AUTO CACHE STRING "Build for AVX2 (Haswell+) CPUs: AUTO (if this CPU has it) | ON | OFF")
if(HIKYAKU_PORTABLE)
  set(HIKYAKU_NATIVE OFF)
endif()
if(HIKYAKU_NATIVE STREQUAL "AUTO" AND CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64")
  set(probe ${CMAKE_BINARY_DIR}/hikyaku_avx2_probe.cc)
  file(WRITE ${probe} "int main() { __builtin_cpu_init(); return __builtin_cpu_supports(\"avx2\") && __builtin_cpu_supports(\"bmi2\") && __builtin_cpu_supports(\"pclmul\") ? 0 : 1; }\n")
  try_run(avx2_run_result avx2_compile_result ${CMAKE_BINARY_DIR} ${probe})
  if(avx2_compile_result AND avx2_run_result EQUAL 0)
    set(HIKYAKU_USE_HASWELL ON)
  endif()
elseif(HIKYAKU_NATIVE STREQUAL "ON")
  set(HIKYAKU_USE_HASWELL ON)
endif()
# Linked into every program (the hikyaku executable, benchmarks): the CPU guard, compiled for
# baseline x86-64 so that it can run on the CPU it is about to refuse.
add_library(hikyaku_program INTERFACE)
if(HIKYAKU_USE_HASWELL)
  message(STATUS "hikyaku: building for AVX2 (-march=haswell); HIKYAKU_PORTABLE=ON for a portable build")
  add_compile_options(-march=haswell)
  add_library(hikyaku_cpu_guard OBJECT ${PROJECT_SOURCE_DIR}/src/core/cpu_guard.cc)
  # Target options come after the directory's -march=haswell; the last -march wins.
  target_compile_options(hikyaku_cpu_guard PRIVATE -march=x86-64 -mtune=generic)
  target_compile_definitions(hikyaku_cpu_guard PRIVATE HIKYAKU_REQUIRES_AVX2)
  target_sources(hikyaku_program INTERFACE $<TARGET_OBJECTS:hikyaku_cpu_guard>)
endif()

# The allocator linked into the server and the benchmarks. Under load glibc's malloc spent ~12% of
# the server's CPU in malloc, free and consolidation (3 KB events moving between threads);
# tcmalloc (gperftools) measured 11-16% less CPU per PutEvents entry. Sanitizer builds keep the
# allocator the sanitizer brings.
set(HIKYAKU_ALLOCATOR tcmalloc CACHE STRING "Allocator for the server and benchmarks: tcmalloc | system")
add_library(hikyaku_allocator INTERFACE)
target_link_libraries(hikyaku_allocator INTERFACE hikyaku_program)
if(HIKYAKU_ALLOCATOR STREQUAL "tcmalloc" AND NOT HIKYAKU_SANITIZE)
  find_package(PkgConfig REQUIRED)
  pkg_check_modules(TCMALLOC REQUIRED IMPORTED_TARGET libtcmalloc_minimal)
  # Nothing calls tcmalloc by name: without --no-as-needed the linker would drop it.
  target_link_libraries(hikyaku_allocator INTERFACE
    "-Wl,--push-state,--no-as-needed" PkgConfig::TCMALLOC "-Wl,--pop-state")
endif()
