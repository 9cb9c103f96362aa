// The command line: flags and environment in, a validated JobConfig out, one engine command
// called, its summary printed and turned into an exit status.
#pragma once

namespace rehome::cli {

/// rehome's main(): returns the process exit status (see engine/commands.h).
int main(int argc, char** argv);

}  // namespace rehome::cli
