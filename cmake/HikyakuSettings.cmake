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
if(HIKYAKU_SANITIZE)
  # Applied globally so that every object, tests and GoogleTest's main included, agrees.
  add_compile_options(-fsanitize=${HIKYAKU_SANITIZE} -fno-sanitize-recover=all -fno-omit-frame-pointer)
  add_link_options(-fsanitize=${HIKYAKU_SANITIZE})
endif()
