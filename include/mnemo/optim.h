// The optim layer: SGD, Adam, AdamW and LR schedulers, bit-exact with PyTorch 1.13 and
// with its state_dict layouts.
#pragma once

#include "mnemo/optim/adam.h"          // IWYU pragma: export
#include "mnemo/optim/lr_scheduler.h"  // IWYU pragma: export
#include "mnemo/optim/optimizer.h"     // IWYU pragma: export
#include "mnemo/optim/sgd.h"           // IWYU pragma: export
