# pusher_module(NAME SOURCES a.cpp ... DEPS lib ...): one folder = one namespace = one static library pusher_NAME.
function(pusher_module name)
  cmake_parse_arguments(M "" "" "SOURCES;DEPS" ${ARGN})
  add_library(pusher_${name} STATIC ${M_SOURCES})
  target_include_directories(pusher_${name} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(pusher_${name} PUBLIC ${M_DEPS})
endfunction()

# pusher_test(NAME SOURCES a.cpp ... DEPS lib ...): a GoogleTest executable, registered with CTest.
function(pusher_test name)
  cmake_parse_arguments(T "" "" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE ${T_DEPS} GTest::gtest_main GTest::gmock)
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/tests)
  # Tests compile at -O1 whatever the build type (-O0 under the sanitizers): a test that includes Asio/Beast takes
  # half as long to compile as at -O3, and under ASan a TLS websocket client takes 125 s at -O1 against 69 s at -O0;
  # `make test` builds them twice. The code under test, the module libraries, keeps the build's optimisation.
  # (Appended after CMAKE_CXX_FLAGS_<CONFIG> and the sanitizer flags: the last -O wins.)
  if(PUSHER_SANITIZE OR PUSHER_TSAN)
    target_compile_options(${name} PRIVATE -O0)
  else()
    target_compile_options(${name} PRIVATE -O1)
  endif()
  if(NOT T_LABELS)
    set(T_LABELS unit)
  endif()
  gtest_discover_tests(${name} PROPERTIES LABELS "${T_LABELS}" DISCOVERY_TIMEOUT 60)
endfunction()
