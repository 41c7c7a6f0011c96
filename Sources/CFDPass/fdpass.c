#include "CFDPass.h"
