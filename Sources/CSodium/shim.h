#ifndef STARLING_CSODIUM_SHIM_H
#define STARLING_CSODIUM_SHIM_H
#include <sodium.h>
#endif
