# Warnings and sanitizers as INTERFACE targets, so every target opts in the same way.
add_library(rehome_warnings INTERFACE)
target_compile_options(rehome_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wsign-conversion -Wnon-virtual-dtor
  $<$<BOOL:${REHOME_WERROR}>:-Werror>)

add_library(rehome_sanitizers INTERFACE)
if(REHOME_SANITIZE)
  target_compile_options(rehome_sanitizers INTERFACE
    -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  target_link_options(rehome_sanitizers INTERFACE -fsanitize=address,undefined)
endif()
