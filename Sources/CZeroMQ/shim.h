#ifndef STARLING_CZEROMQ_SHIM_H
#define STARLING_CZEROMQ_SHIM_H
#include <zmq.h>
#endif
