# hikyaku_component(NAME pattern SOURCES a.cc b.cc DEPS hikyaku::core [PRIVATE_DEPS ...])
#   Defines the static library hikyaku_<NAME> (alias hikyaku::<NAME>); includes are rooted at src/.
function(hikyaku_component)
  cmake_parse_arguments(ARG "" "NAME" "SOURCES;DEPS;PRIVATE_DEPS" ${ARGN})
  set(target hikyaku_${ARG_NAME})
  add_library(${target} STATIC ${ARG_SOURCES})
  add_library(hikyaku::${ARG_NAME} ALIAS ${target})
  target_include_directories(${target} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(${target} PUBLIC ${ARG_DEPS} PRIVATE hikyaku_settings ${ARG_PRIVATE_DEPS})
endfunction()

# hikyaku_test(NAME pattern SOURCES matcher_test.cc DEPS hikyaku::pattern LABELS unit)
#   One GoogleTest binary per component, registered with ctest as one test: a process per binary
#   rather than per test case keeps the suite fast (thousands of data-driven cases) while gtest
#   still reports every failing case by name.
function(hikyaku_test)
  cmake_parse_arguments(ARG "" "NAME" "SOURCES;DEPS;LABELS" ${ARGN})
  set(target ${ARG_NAME}_test)
  add_executable(${target} ${ARG_SOURCES})
  target_include_directories(${target} PRIVATE ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR}/tests)
  target_link_libraries(${target} PRIVATE ${ARG_DEPS} GTest::gtest_main GTest::gmock hikyaku_settings)
  target_compile_definitions(${target} PRIVATE
    HIKYAKU_TEST_DATA_DIR="${HIKYAKU_TEST_DATA_DIR}"
    HIKYAKU_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
    HIKYAKU_BINARY_DIR="${PROJECT_BINARY_DIR}")
  if(NOT ARG_LABELS)
    set(ARG_LABELS unit)
  endif()
  add_test(NAME ${target} COMMAND ${target} --gtest_brief=1)
  set_tests_properties(${target} PROPERTIES LABELS "${ARG_LABELS}" TIMEOUT 1800)
endfunction()
