if(PUSHER_SANITIZE)
  # -O1, as the ASan documentation recommends for usable stack traces at reasonable speed; it also compiles the
  # Asio/Beast translation units in about half the time of the build type's -O3 (appended after it: the last -O wins).
  add_compile_options(-O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
  # GCC's -Wmaybe-uninitialized misfires inside Boost headers once ASan instruments them (boost::optional in Beast's
  # parser): noise, not findings; the release build keeps the warning.
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    add_compile_options(-Wno-maybe-uninitialized)
  endif()
endif()
if(PUSHER_TSAN)
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer)
  add_link_options(-fsanitize=thread)
endif()
