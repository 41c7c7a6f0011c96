#include "CFuzzDriver.h"
// Header-only module: the symbol comes from libFuzzer's runtime.
