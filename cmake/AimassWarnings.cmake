# aimass_target_warnings(<target>): the warning set every first-party target compiles with.
function(aimass_target_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor
                                           -Wno-unused-parameter)
endfunction()
