#ifndef CFDPASS_H
#define CFDPASS_H
#include <stddef.h>
#include <sys/types.h>
// Placeholder: SCM_RIGHTS helpers for the TLS Pool wire protocol arrive with the TLSPool module.
#endif
