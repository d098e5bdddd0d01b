// Reverse-mode autograd: GradMode / NoGradGuard, the graph's Node, backward().
#pragma once

#include "mnemo/autograd/backward.h"   // IWYU pragma: export
#include "mnemo/autograd/grad_mode.h"  // IWYU pragma: export
#include "mnemo/autograd/node.h"       // IWYU pragma: export
