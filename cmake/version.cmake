# Writes rehome_version.h from version.h.in at build time (CMakeLists.txt's
# rehome_version_header): the commit HEAD is at ("-dirty" with uncommitted changes to tracked
# files; "unknown" outside a git checkout, as in a source tarball). The file is rewritten only
# when its text changes, so an unchanged build recompiles nothing.
set(REHOME_GIT_COMMIT "unknown")
if(GIT AND EXISTS ${SOURCE_DIR}/.git)
  execute_process(COMMAND ${GIT} rev-parse --short=12 HEAD
    WORKING_DIRECTORY ${SOURCE_DIR} OUTPUT_VARIABLE commit
    OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET RESULT_VARIABLE failed)
  if(NOT failed AND commit)
    set(REHOME_GIT_COMMIT ${commit})
    execute_process(COMMAND ${GIT} status --porcelain --untracked-files=no
      WORKING_DIRECTORY ${SOURCE_DIR} OUTPUT_VARIABLE dirty
      OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
    if(dirty)
      string(APPEND REHOME_GIT_COMMIT "-dirty")
    endif()
  endif()
endif()
set(PROJECT_VERSION ${VERSION})
set(REHOME_PROMETHEUS_CPP_VERSION ${PROMETHEUS_CPP_VERSION})
configure_file(${SOURCE_DIR}/cmake/version.h.in ${OUTPUT} @ONLY)
