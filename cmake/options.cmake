# Warnings and sanitizers as INTERFACE targets, so every target opts in the same way.
add_library(rehome_warnings INTERFACE)
target_compile_options(rehome_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wsign-conversion -Wnon-virtual-dtor
  $<$<BOOL:${REHOME_WERROR}>:-Werror>)
# GCC 12's -Wmaybe-uninitialized misreads std::variant (Result<T>) once enough callbacks are
# inlined into one function (GCC bugs 105562, 107919): it stays a warning, never an error.
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  target_compile_options(rehome_warnings INTERFACE -Wno-error=maybe-uninitialized)
endif()

add_library(rehome_sanitizers INTERFACE)
if(REHOME_SANITIZE)
  target_compile_options(rehome_sanitizers INTERFACE
    -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  target_link_options(rehome_sanitizers INTERFACE -fsanitize=address,undefined)
endif()
