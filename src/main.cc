// rehome's executable: parse the command line and hand over to the library.
#include "cli/app.h"

int main(int argc, char** argv) { return rehome::cli::main(argc, argv); }
