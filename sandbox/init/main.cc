// whalebox-sandbox-init: PID 1 of a process-tier sandbox, started by the runtime (never by hand).
#include "sandbox/init.h"

int main() { return whalebox::sandbox::init_main(); }
